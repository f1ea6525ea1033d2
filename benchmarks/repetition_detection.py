"""vLLM's in-engine loop detection (`repetition_detection`) on real reasoning: how many clean traces it would have
stopped (false stops), and how many looping samples it catches and how early.

    python benchmarks/repetition_detection.py [--data ../shared/data] [--vllm-check]

Clean text: the real model traces in ../shared/data/traces that their graders marked correct, and the worked
solutions of MATH-500, GSM8K and Minerva (clean human reasoning with tables, lists and repeated formulas).
Loops: each clean trace cut at a random sentence, then one of its last paragraphs or sentences repeated until
the budget, as samplers loop at temperature 0.6. Token ids come from a byte-level BPE trained here on the same
texts (no hub access). The detector is vLLM's condition (the last L tokens equal each of the min_count - 1
blocks before them, for some L in [min_pattern_size, max_pattern_size]) computed for every prefix at once with
numpy; `--vllm-check` runs vLLM's own `check_sequence_repetition` on every prefix for the default settings and
asserts the same first stop. Prints the grid, then the default's figures; target: 0 false stops.
"""

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GRID = [(min_p, max_p, count) for min_p, max_p in [(1, 32), (4, 64), (8, 128), (16, 256)] for count in (4, 6, 8, 12)]
BUDGET_TOKENS = 4096


def clean_texts(data: Path) -> list[str]:
    texts = []
    for path in sorted((data / "traces").glob("*/traces.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row.get("label_correct"):
                texts.append(row["trace"])
    for name, field in [("math500/math500.jsonl", "solution"), ("gsm8k/gsm8k_test.jsonl", "answer"),
                        ("minerva_math/minerva_math.jsonl", "solution")]:  # fmt: skip
        for line in (data / "problems" / name).read_text().splitlines():
            texts.append(json.loads(line)[field])
    return [text for text in texts if text.strip()]


def looping(texts: list[str], rng: random.Random) -> list[str]:
    """Each text cut at a random sentence, then a paragraph or sentence before the cut repeated to the budget."""
    loops = []
    for text in texts:
        sentences = [s for s in text.replace("\n\n", "\n\n. ").split(". ") if s.strip()]
        if len(sentences) < 3:
            continue
        cut = rng.randrange(2, len(sentences))
        unit = rng.choice([sentences[cut - 1], ". ".join(sentences[max(0, cut - 3) : cut])]).strip() + ".\n"
        loops.append(". ".join(sentences[:cut]) + ". " + unit * 400)
    return loops


def tokenizer_for(texts: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8000, show_progress=False))
    return tokenizer


def first_stop(ids: np.ndarray, min_pattern: int, max_pattern: int, min_count: int) -> int | None:
    """The first number of generated tokens at which vLLM's detector ends the sequence, or None."""
    stops = []
    for length in range(max(1, min_pattern), max_pattern + 1):
        if length * min_count > len(ids):
            break
        same = np.zeros(len(ids), dtype=bool)
        same[length:] = ids[length:] == ids[:-length]
        # run of `same` ending at each position: the tail is periodic with this length for that many tokens
        last_break = np.maximum.accumulate(np.where(~same, np.arange(len(ids)), -1))
        run = np.arange(len(ids)) - last_break
        hit = np.flatnonzero((run >= length * (min_count - 1)) & (np.arange(len(ids)) + 1 >= length * min_count))
        if len(hit):
            stops.append(int(hit[0]) + 1)
    return min(stops) if stops else None


def vllm_first_stop(ids: list[int], min_pattern: int, max_pattern: int, min_count: int) -> int | None:
    from vllm.sampling_params import RepetitionDetectionParams
    from vllm.v1.core.sched.utils import check_sequence_repetition

    params = RepetitionDetectionParams(max_pattern, min_pattern, min_count)
    for end in range(1, len(ids) + 1):
        if check_sequence_repetition(ids[:end], params):
            return end
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--vllm-check", action="store_true")
    args = parser.parse_args()
    from cotfactory.samplers.base import DEFAULT_REPETITION_DETECTION as default

    rng = random.Random(0)
    clean = clean_texts(args.data)
    loops = looping([t for t in clean if len(t) > 400], rng)
    tokenizer = tokenizer_for(clean)
    clean_ids = [np.array(e.ids, dtype=np.int64) for e in tokenizer.encode_batch(clean)]
    loop_ids = [np.array(e.ids[:BUDGET_TOKENS], dtype=np.int64) for e in tokenizer.encode_batch(loops)]
    print(f"{len(clean)} clean texts ({sum(map(len, clean_ids)):,} tokens), {len(loops)} looping samples")
    print("min_pattern max_pattern min_count  false_stops  loops_caught  tokens_saved")
    chosen = (default.min_pattern_size, default.max_pattern_size, default.min_count)
    figures = {}
    for params in sorted(set(GRID) | {chosen}):
        false_stops = [i for i, ids in enumerate(clean_ids) if first_stop(ids, *params) is not None]
        stops = [first_stop(ids, *params) for ids in loop_ids]
        caught = [s for s in stops if s is not None]
        saved = sum(len(ids) - (s or len(ids)) for ids, s in zip(loop_ids, stops, strict=True))
        figures[params] = (len(false_stops), len(caught), saved, false_stops)
        mark = "  <- default" if params == chosen else ""
        print(f"{params[0]:11d} {params[1]:11d} {params[2]:9d}  {len(false_stops):11d}  {len(caught):12d}  "
              f"{saved / max(1, sum(map(len, loop_ids))):12.1%}{mark}")  # fmt: skip
    false, caught, saved, examples = figures[chosen]
    for index in examples[:3]:
        stop = first_stop(clean_ids[index], *chosen)
        print("false stop:", repr(tokenizer.decode(clean_ids[index][max(0, stop - 60) : stop].tolist()))[:200])
    if args.vllm_check:
        sample = clean_ids[:: max(1, len(clean_ids) // 200)] + loop_ids[:50]
        for ids in sample:
            assert vllm_first_stop(ids.tolist(), *chosen) == first_stop(ids, *chosen)
        print(f"vLLM's own detector agrees on {len(sample)} texts")
    print(
        f"repetition_detection {chosen}: loops caught ratio={caught / max(1, len(loop_ids)):.2f} (target: report), "
        f"false stops {false}/{len(clean_ids)} clean texts (target 0)"
    )


if __name__ == "__main__":
    main()
