"""Correctness check vs human labels: 800 real Qwen2.5-Math traces (8 per MATH problem) from ../shared/data.

    python benchmarks/correctness.py [--data ../shared/data]

Runs the `math_verify` check (final answer: last `\\boxed{}`, else math-verify's extraction) through the
process-pool runner on every trace, and compares acceptance with `label_correct`. Prints agreement
(target >= 0.97) and precision of acceptance (accepted and labeled correct / accepted; target >= 0.99).
"""

import argparse
import json
import time
from pathlib import Path

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import build_checks

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    path = args.data / "traces" / "qwen25math_cot_maj8" / "traces.jsonl"
    if not path.exists():
        raise SystemExit(f"no labeled traces at {path}: pass --data pointing at shared/data")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # These traces come from a non-reasoning model (no think tags): the whole trace is the answer part.
    samples = [Sample.from_completion(r["problem"], r["trace"], reference=r["reference"]) for r in rows]
    start = time.perf_counter()
    with Chain(build_checks(["math_verify"]), workers=args.workers) as runner:
        decisions = runner.run(samples)
    elapsed = time.perf_counter() - start
    labels = [bool(r["label_correct"]) for r in rows]
    accepted = [d.accepted for d in decisions]
    agree = sum(a == label for a, label in zip(accepted, labels, strict=True))
    true_accepts = sum(a and label for a, label in zip(accepted, labels, strict=True))
    precision = true_accepts / max(1, sum(accepted))
    recall = true_accepts / max(1, sum(labels))
    for row, decision, label in zip(rows, decisions, labels, strict=True):
        if decision.accepted != label:
            verdict = decision.verdicts.get("math_verify")
            print(
                f"disagree {row['id']}: label={label} ours={decision.reason or 'accepted'} "
                f"reference={row['reference']!r} extracted={verdict.detail if verdict else None!r}"
            )
    print(f"{len(rows)} traces in {elapsed:.1f}s ({len(rows) / elapsed:,.0f}/s with {args.workers} workers)")
    print(f"recall of correct traces: {recall:.3f}")
    print(
        f"correctness vs labels: agreement ratio={agree / len(rows):.3f} (target >= 0.97), "
        f"precision={precision:.3f} (target >= 0.99)"
    )


if __name__ == "__main__":
    main()
