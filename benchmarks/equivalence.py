"""Answer equivalence vs the expected labels of Math-Verify's and lighteval's own test cases (../shared/data).

    python benchmarks/equivalence.py [--data ../shared/data] [--show-disagreements]

Each (gold, prediction, expected) case goes through cotfactory's correctness checks as a sample whose
reference is the gold and whose answer is the prediction (letter cases through the `choice` check). The
test-specific comparator options of the original tests (precision, strictness) are not applied: the check
runs with its own defaults, as it does on real data. Target: agreement >= 0.98.
"""

import argparse
import json
from collections import Counter
from pathlib import Path

from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import CheckRunner, build_checks

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LETTER_TYPES = {"NativeLetters", "IndicesExtractionConfig", "letters"}


def load_cases(data: Path) -> list[dict]:
    cases = []
    for name in ("math_verify.jsonl", "lighteval.jsonl"):
        for line in (data / "equiv" / name).read_text().splitlines():
            row = json.loads(line)
            if row.get("kind") == "gold_vs_pred" and isinstance(row.get("expected"), bool):
                cases.append(row)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show-disagreements", action="store_true")
    args = parser.parse_args()
    cases = load_cases(args.data)
    samples = []
    for case in cases:
        match_types = set(case.get("call_kwargs", {}).get("match_types") or [])
        domain = "choice" if match_types & LETTER_TYPES else "math"
        samples.append(
            Sample(
                problem="",
                completion=str(case["pred"]),
                reasoning="",
                answer=str(case["pred"]),
                think="untagged",
                reference=case["gold"] if isinstance(case["gold"], str) else json.dumps(case["gold"]),
                domain=domain,
            )
        )
    with CheckRunner(build_checks(["choice", {"name": "math_verify", "timeout_s": 5}]), workers=2) as runner:
        decisions = runner.run(samples)
    by_source: Counter[str] = Counter()
    agree_by_source: Counter[str] = Counter()
    disagreements = []
    for case, decision in zip(cases, decisions, strict=True):
        by_source[case["source"]] += 1
        if decision.accepted == case["expected"]:
            agree_by_source[case["source"]] += 1
        else:
            disagreements.append((case, decision))
    for source in sorted(by_source):
        print(f"{source:12s} {agree_by_source[source]:4d}/{by_source[source]:4d} agree")
    if args.show_disagreements:
        for case, decision in disagreements:
            print(
                f"  {case['source']} {case['test']} line {case['line']}: gold={case['gold']!r} "
                f"pred={str(case['pred'])[:80]!r} expected={case['expected']} ours={decision.reason or 'accepted'} "
                f"options={case.get('call_kwargs')}"
            )
    agreement = sum(agree_by_source.values()) / len(cases)
    print(f"answer equivalence vs labels ({len(cases)} cases): agreement ratio={agreement:.3f} (target >= 0.98)")


if __name__ == "__main__":
    main()
