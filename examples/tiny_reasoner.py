"""A tiny reasoner, trained on the spot on CPU: a 3-layer Qwen2 model that learned R1's format (`<think>` with
worked steps, `</think>`, a `\\boxed{}` answer) on synthetic traces of two- and three-term sums.

    python examples/tiny_reasoner.py examples/tiny-reasoner [--steps 500]

It is trained just enough to be right often but not always, so that rejection sampling has something to do:
on the example problems (examples/arithmetic.jsonl) the real vLLM engine produces accepted samples, wrong
answers, and reasonings that ramble past `max_tokens`. Training takes about 2-3 minutes on 2 cores; the result
is cached in the folder (a rerun with the folder present does nothing).
"""

import json
import random
import sys
import time
from pathlib import Path

from tiny_model import CHAT_TEMPLATE, SPECIAL_TOKENS, qwen2_config

from cotfactory.samplers.base import R1_SUFFIX

SEED = 0
STEPS = 500


def column_steps(left: int, right: int) -> list[str]:
    """Column addition, digit by digit from the ones, as a pupil writes it: small steps a tiny model can learn."""
    places = ("Ones", "Tens", "Hundreds", "Thousands")
    steps, carry = [], 0
    a, b = str(left)[::-1], str(right)[::-1]
    for place in range(max(len(a), len(b))):
        x, y = int(a[place]) if place < len(a) else 0, int(b[place]) if place < len(b) else 0
        total = x + y + carry
        carried = f" + {carry}" if carry else ""
        step = f"{places[place]}: {x} + {y}{carried} = {total}. Write {total % 10}"
        carry = total // 10
        steps.append(step + (", carry 1." if carry else "."))
    if carry:
        steps.append(f"{places[max(len(a), len(b))]}: write the carried 1.")
    return [*steps, f"So {left} + {right} = {left + right}."]


def trace(terms: list[int], rng: random.Random) -> tuple[str, str]:
    """(problem, R1-style completion) of the sum of `terms`, added two at a time."""
    problem = f"What is {' + '.join(map(str, terms))}?"
    listed = ", ".join(map(str, terms[:-1])) + f" and {terms[-1]}"
    steps, total = [f"I need to add {listed}."], terms[0]
    for index, term in enumerate(terms[1:]):
        if len(terms) > 2:
            steps.append(f"{'First' if index == 0 else 'Then'} {total} + {term}.")
        steps += column_steps(total, term)
        total += term
    if rng.random() < 0.3:  # a check that repeats the result, as long reasoning does
        steps.append(f"Let me check: {' + '.join(map(str, terms))} = {total}.")
    return problem, "\n".join(steps) + f"\n</think>\n\nThe answer is \\boxed{{{total}}}."


def training_texts(count: int, rng: random.Random) -> list[str]:
    """Whole chats as the samplers' prompt and the chat template render them (R1's instruction after the
    problem, a prompt that opens `<think>`), ending with `<|end|>`."""
    texts = []
    for _ in range(count):
        terms = [rng.randint(10, 99) for _ in range(rng.choice((2, 2, 3)))]
        problem, completion = trace(terms, rng)
        texts.append(f"<|user|>{problem}\n{R1_SUFFIX}<|assistant|><think>\n{completion}<|end|>")
    return texts


def _tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    # one token per digit: sums are learned digit by digit
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    bpe.decoder = decoders.ByteLevel()
    # The chat markers are special (dropped when decoding); <think> and </think> are not, as in R1's tokenizer,
    # so they stay in the text vLLM returns.
    markers = [token for token in SPECIAL_TOKENS if token.startswith("<|")]
    trainer = trainers.BpeTrainer(
        vocab_size=384, special_tokens=markers, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|end|>", pad_token="<|end|>")
    tokenizer.add_special_tokens({"additional_special_tokens": markers[1:]})
    tokenizer.add_tokens(["<think>", "</think>"])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def train_tiny_reasoner(directory: Path, steps: int = STEPS, log: bool = True) -> Path:
    """Train and save the model, its tokenizer and chat template into `directory` (skipped when it is there)."""
    if (directory / "model.safetensors").exists() and (directory / "config.json").exists():
        return directory
    import torch
    from transformers import Qwen2ForCausalLM

    rng = random.Random(SEED)
    torch.manual_seed(SEED)
    texts = training_texts(20_000, rng)
    tokenizer = _tokenizer(texts[:4000])
    config = qwen2_config(tokenizer, hidden_size=128, layers=3, heads=4, max_positions=1024)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    batch_size, started = 16, time.monotonic()
    model.train()
    for step in range(steps):
        batch = tokenizer(rng.sample(texts, batch_size), padding=True, return_tensors="pt")
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if log and (step % 50 == 0 or step == steps - 1):
            print(f"step {step:4d}/{steps}: loss {loss.item():.3f} ({time.monotonic() - started:.0f}s)", flush=True)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    generation = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    (directory / "generation_config.json").write_text(json.dumps(generation))
    return directory


if __name__ == "__main__":
    arguments = sys.argv[1:]
    chosen_steps = int(arguments[arguments.index("--steps") + 1]) if "--steps" in arguments else STEPS
    print(train_tiny_reasoner(Path(arguments[0]), steps=chosen_steps))
