"""HumanEval through the `code_tests` check: every canonical solution must pass in the sandbox, and solutions
broken on purpose must fail.

    python benchmarks/humaneval.py [--data ../shared/data] [--workers 2]

Three programs per problem: the prompt with its canonical solution; the same with the last `return X`
replaced by `return None` (a wrong return); the same with its first integer literal one higher (an
off-by-one; problems without a literal are left out). The checks run through the check runner's worker pool,
as in a run. Target: canonical pass share 1.00, and no wrong-return solution passing.
"""

import argparse
import gzip
import json
import re
import time
from collections import Counter
from pathlib import Path

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import build_checks
from cotfactory.storage.prompt_fields import FieldMapping

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def wrong_return(solution: str) -> str:
    """The last `return X` returns None instead."""
    returns = list(re.finditer(r"return (.+)$", solution, re.MULTILINE))
    if not returns:
        return solution + "    raise RuntimeError('broken')\n"
    return solution[: returns[-1].start()] + "return None" + solution[returns[-1].end() :]


def off_by_one(solution: str) -> str | None:
    """The first integer literal grows by one; None when there is none."""
    literal = re.search(r"(?<![\w.])(\d+)(?![\w.])", solution)
    if literal is None:
        return None
    return solution[: literal.start()] + str(int(literal.group(1)) + 1) + solution[literal.end() :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with gzip.open(args.data / "code" / "humaneval" / "HumanEval.jsonl.gz", "rt") as file:
        rows = [json.loads(line) for line in file]

    kinds, samples = [], []
    for row in rows:
        prompt = FieldMapping().prompt(row)
        variants = {
            "canonical": row["canonical_solution"],
            "wrong return": wrong_return(row["canonical_solution"]),
            "off by one": off_by_one(row["canonical_solution"]),
        }
        for kind, solution in variants.items():
            if solution is None:
                continue
            completion = f"<think>\nSolve it.\n</think>\n```python\n{row['prompt']}{solution}```\n"
            kinds.append(kind)
            samples.append(
                Sample.from_completion(prompt.problem, completion, domain="code", tests=json.dumps(prompt.tests))
            )

    chain = build_checks([{"name": "code_tests", "time_limit_s": 10.0, "slots": args.workers}])
    with Chain(chain, workers=args.workers, timeout_s=120) as runner:
        runner.setup({"code"})
        runner.start()
        start = time.perf_counter()
        decisions = runner.run(samples)
        elapsed = time.perf_counter() - start
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in dict.fromkeys(kinds)}
    for kind, decision in zip(kinds, decisions, strict=True):
        counts[kind][decision.reason or "passed"] += 1
    for kind, counted in counts.items():
        print(
            f"{kind:13s} {sum(counted.values()):4d} programs: "
            + ", ".join(f"{n} {r}" for r, n in counted.most_common())
        )
    rate = len(samples) / elapsed
    print(f"{len(samples)} programs in {elapsed:.1f} s with {args.workers} workers: {rate:.1f} programs/s")
    canonical = counts["canonical"]
    print(
        f"humaneval canonical solutions passing: ratio={canonical['passed'] / len(rows):.2f} (target 1.00), "
        f"wrong returns passing {counts['wrong return']['passed']} (target 0)"
    )


if __name__ == "__main__":
    main()
