"""A tiny random-weight Qwen2 model with a tokenizer trained on the spot: vLLM runs it on CPU, no hub needed.

The CPU demo and the tests use it: `python examples/tiny_model.py examples/tiny-model`. Its output is noise, so
the checks reject nearly all of it; it shows the pipeline, not a model.
"""

import json
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}<|system|>{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}<|user|>{{ message['content'] }}"
    "{% else %}<|assistant|>{{ message['content'] }}<|end|>{% endif %}"
    "{% endfor %}"
    # Like the R1-distill templates: the prompt opens the reasoning, the model only has to close it.
    "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}"
)
SPECIAL_TOKENS = ["<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<think>", "</think>"]
CORPUS = [
    "Let me think step by step. First, 2 + 2 = 4, so the answer is \\boxed{4}.",
    "We need the sum of the roots: by Vieta, it is -b/a. Wait, let me check again.",
    "The area of a rectangle is length times width; 3 times 7 is 21.",
    "Therefore x = 6 because 3x - 7 = 11 gives 3x = 18.",
    "Hmm, that does not look right. Let us recompute the remainder of 2^10 modulo 7.",
]


def qwen2_config(tokenizer: Any, *, hidden_size: int, layers: int, heads: int, max_positions: int) -> Any:
    """A small Qwen2 config vLLM's CPU build serves: heads of 32 dimensions (its attention needs 32, 64, 80, ...),
    half as many key-value heads, an MLP three times as wide (twice for one head), tied embeddings."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * (3 if heads > 2 else 2),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        head_dim=32,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )


def build_tiny_model(directory: Path) -> Path:
    """Write config, random weights, tokenizer and chat template of a 2-layer Qwen2 model into `directory`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2ForCausalLM

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(CORPUS * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|end|>", pad_token="<|end|>")
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    config = qwen2_config(tokenizer, hidden_size=64, layers=2, heads=2, max_positions=2048)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.save_pretrained(directory)
    generation = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    (directory / "generation_config.json").write_text(json.dumps(generation))
    return directory


if __name__ == "__main__":
    import sys

    print(build_tiny_model(Path(sys.argv[1])))
