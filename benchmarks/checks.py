"""Correctness checks vs graders' labels, per suite, on a tuned part and a part kept aside, and their cost.

    python benchmarks/checks.py [--data ../shared/data]

The equivalence suites of ../shared/data/equiv (Math-Verify's and lighteval's own test cases) are pooled,
duplicates across the two files counted once, and split by test function: a test whose name hashes (xxh3_64)
to 0 mod 3 is kept aside, the rest is the tuning part. Whole tests go to one side, so a kept-aside case never
has a near twin of the same test on the tuning side. Each case runs through `math_verify` (letter cases
through `choice`) with the options of its original test, in this process. Prints agreement per suite and
part, the check's cost per case here and on the 800 labeled Qwen2.5-Math traces, and ends with the kept-aside
agreement (target >= 0.95).
"""

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import xxhash
from equivalence import LETTER_TYPES, check_settings, load_cases, resolve

from cotfactory.filters.checks import Sample
from cotfactory.filters.choice import Choice
from cotfactory.filters.correctness import MathVerify, warm_up

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def part_of(test: str) -> str:
    """`kept aside` or `tuned`, by a stable hash of the test function's name."""
    return "kept aside" if xxhash.xxh3_64_intdigest(test.encode()) % 3 == 0 else "tuned"


def unique_cases(data: Path) -> list[dict]:
    """The cases of both suites, one per (gold, prediction, options); the first file's copy is kept."""
    seen, cases = set(), []
    for case in load_cases(data):
        key = (str(case["gold"]), str(case["pred"]), json.dumps(case.get("call_kwargs"), sort_keys=True))
        if key not in seen:
            seen.add(key)
            cases.append(case)
    return cases


def decide(case: dict) -> bool:
    params = case.get("params") or {}
    gold, pred = str(resolve(case["gold"], params)), str(resolve(case["pred"], params))
    match_types = set(case.get("call_kwargs", {}).get("match_types") or [])
    domain = "choice" if match_types & LETTER_TYPES else "math"
    sample = Sample("", pred, "", pred, "untagged", reference=gold, domain=domain)
    if domain == "choice":
        return Choice()(sample).passed
    settings = check_settings(case, MathVerify().approximation_digits)
    settings.pop("name")
    return MathVerify(**settings)(sample).passed


def traces_cost(data: Path) -> float | None:
    """Milliseconds per labeled trace of the default `math_verify` check, in this process."""
    path = data / "traces" / "qwen25math_cot_maj8" / "traces.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    samples = [Sample.from_completion(r["problem"], r["trace"], reference=r["reference"]) for r in rows]
    check = MathVerify()
    start = time.perf_counter()
    for sample in samples:
        check(sample)
    return (time.perf_counter() - start) / len(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show-disagreements", action="store_true")
    args = parser.parse_args()
    warm_up()
    cases = unique_cases(args.data)
    total: Counter[tuple[str, str]] = Counter()
    agree: Counter[tuple[str, str]] = Counter()
    start = time.perf_counter()
    for case in cases:
        key = (case["source"], part_of(case["test"]))
        total[key] += 1
        if decide(case) == case["expected"]:
            agree[key] += 1
        elif args.show_disagreements:
            print(f"  {key[1]} {case['source']} {case['test']}: gold={case['gold']!r} pred={str(case['pred'])[:80]!r}")
    per_case = (time.perf_counter() - start) / len(cases) * 1000
    for key in sorted(total):
        print(f"{key[0]:12s} {key[1]:10s} {agree[key]:4d}/{total[key]:4d} agree ({agree[key] / total[key]:.3f})")
    for part in ("tuned", "kept aside"):
        tests = sorted({case["test"] for case in cases if part_of(case["test"]) == part})
        print(f"{part} tests: {', '.join(tests)}")
    print(f"math_verify cost: {per_case:.1f} ms per equivalence case", end="")
    cost = traces_cost(args.data)
    print(f", {cost:.2f} ms per labeled trace" if cost is not None else " (no traces)")
    kept = [key for key in total if key[1] == "kept aside"]
    tuned = [key for key in total if key[1] == "tuned"]
    tuned_share = sum(agree[k] for k in tuned) / max(1, sum(total[k] for k in tuned))
    kept_share = sum(agree[k] for k in kept) / max(1, sum(total[k] for k in kept))
    print(f"tuned part: agreement {tuned_share:.3f} on {sum(total[k] for k in tuned)} cases")
    print(
        f"kept-aside equivalence cases ({sum(total[k] for k in kept)}): agreement ratio={kept_share:.2f} "
        "(target >= 0.95)"
    )


if __name__ == "__main__":
    main()
