"""The judge of a stream (the default chain's prefix-monotone watches) on long R1-style reasonings fed a few
characters at a time, as a server streams tokens: is its work linear in the stream's length, and what does it
cost per event beside reading the event itself?

    python benchmarks/stream_judge.py [--piece 4] [--short 131072] [--long 2097152] [--data ../shared/data]

The reasoning is real Qwen2.5-Math solutions joined into paragraphs (../shared/data when present, else generated
prose with inline math). The baseline is the client's own work per event, in the same process: `json.loads` of a
chat completion chunk carrying the same piece. Headline: time per character on the long stream over the short one
(target <= 1.3: linear); also the judge's time per event against the event's parse.
"""

import argparse
import json
import random
import time
from pathlib import Path

from cotfactory.filters.chain import Chain
from cotfactory.filters.prefix import PromptContext
from cotfactory.filters.runner import DEFAULT_CHECKS, build_checks

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PROBLEM = "Find the sum of all real roots of the polynomial."


def paragraphs(data: Path) -> list[str]:
    path = data / "traces" / "qwen25math_cot_maj8" / "traces.jsonl"
    if path.exists():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        found = [p.strip() for row in rows for p in row["trace"].replace("\\boxed", "").split("\n\n") if p.strip()]
        # clean paragraphs: a few traces slip into Chinese or write code
        return [p for p in found if len(p) < 2_500 and p.isascii() and "```" not in p]
    rng = random.Random(0)
    words = "we compute the sum of the roots and check the discriminant so the value follows".split()  # noqa: SIM905
    return [" ".join(rng.choice(words) for _ in range(60)) + f" so $x_{i} = {i}$." for i in range(500)]


def reasoning(length: int, found: list[str], seed: int) -> str:
    """Distinct paragraphs (no loop, no repeated line) until `length` characters."""
    rng, parts, size = random.Random(seed), [], 0
    while size < length:
        step = len(parts)
        paragraph = f"Step {step}: " + rng.choice(found).replace("\n", f"\n({step}) ")  # no line said twice
        parts.append(paragraph)
        size += len(paragraph) + 2
    return "<think>\n" + "\n\n".join(parts)[:length]


def judge_seconds(chain: Chain, text: str, piece: int) -> float:
    judge = chain.stream_judge(PromptContext(PROBLEM, "math"))
    assert judge is not None
    started = time.perf_counter()
    for start in range(0, len(text), piece):
        if judge.feed(text[start : start + piece]) is not None:
            raise SystemExit(f"the clean reasoning was aborted: {judge.failure}")
    return time.perf_counter() - started


def parse_seconds(text: str, piece: int) -> float:
    def chunk(start: int) -> str:
        choice = {"index": 0, "delta": {"content": text[start : start + piece]}, "finish_reason": None}
        return json.dumps({"choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": start // piece}})

    events = [chunk(start) for start in range(0, len(text), piece)]
    started = time.perf_counter()
    for line in events:
        json.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--piece", type=int, default=4, help="characters per event (about a token)")
    parser.add_argument("--short", type=int, default=131_072, help="characters (a 32k-token reasoning)")
    parser.add_argument("--long", type=int, default=2_097_152)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    found = paragraphs(args.data)
    unlimited = {"long_paragraph": {"name": "long_paragraph", "max_chars": 10**9},
                 "too_long": {"name": "too_long", "max_chars": None}}  # fmt: skip
    checks = [unlimited.get(c, c) if isinstance(c, str) else c for c in DEFAULT_CHECKS]
    with Chain(build_checks(checks), workers=0) as chain:
        short, long = reasoning(args.short, found, 1), reasoning(args.long, found, 2)
        judge_seconds(chain, short, args.piece)  # warm caches (script lookups, regexes)
        short_s = min(judge_seconds(chain, short, args.piece) for _ in range(3))
        long_s = judge_seconds(chain, long, args.piece)
        parse_s = parse_seconds(long, args.piece)
    events = -(-len(long) // args.piece)
    per_char_short, per_char_long = short_s / len(short), long_s / len(long)
    print(f"short: {len(short):,} chars in {short_s:.3f} s ({per_char_short * 1e9:.0f} ns a char)")
    print(f"long:  {len(long):,} chars in {long_s:.3f} s ({per_char_long * 1e9:.0f} ns a char)")
    print(f"per event of {args.piece} chars: judge {long_s / events * 1e6:.2f} us, json.loads of the chunk "
          f"{parse_s / events * 1e6:.2f} us; one core judges {events / long_s:,.0f} events/s")  # fmt: skip
    print(f"stream judge, long vs short per character: ratio={per_char_long / per_char_short:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
