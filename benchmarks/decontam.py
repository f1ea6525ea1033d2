"""N-gram decontamination of 100,000 prompts against MATH-500 + AIME 2024/2025 (../shared/data).

    python benchmarks/decontam.py [--prompts 100000] [--data ../shared/data]

Prompts are real problems of other sets (GSM8K, OlympiadBench, Minerva, ...) with a varying preamble, and
1% of them embed a MATH-500 or AIME problem, lightly reworded around it. The baseline is the usual script
approach (open-r1's): a Python set of the benchmarks' 8-gram strings and a set intersection per prompt, in
the same run. Both must flag exactly the planted prompts. Headline: prompts/s of `Decontaminator.find_many`
in batches of 10,000 vs the baseline.
"""

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from cotfactory.filters.decontam import Decontaminator, register_benchmark, words
from cotfactory.storage import Store

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OTHER_SETS = ["gsm8k", "olympiadbench", "minerva_math", "amc23", "olymmath_en_zh"]


def problems(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            text = row.get("problem") or row.get("question") or row.get("prompt")
            if isinstance(text, str) and text.strip():
                found.append(text)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    problem_sets = args.data / "problems"
    if not problem_sets.is_dir():
        print(f"no real data at {args.data}: this benchmark needs ../shared/data (or --data)")
        return
    benchmark = problems(problem_sets / "math500") + problems(problem_sets / "aime_2024_2025")
    others = [p for name in OTHER_SETS for p in problems(problem_sets / name)]
    rng = random.Random(0)
    prompts, planted = [], set()
    for index in range(args.prompts):
        preamble = f"Exercise {index}. " + rng.choice(["Solve carefully.", "Show your work.", "Think step by step."])
        if rng.random() < 0.01:
            planted.add(index)
            prompts.append(f"{preamble} Here is a problem to try: {rng.choice(benchmark)} Good luck with it!")
        else:
            prompts.append(f"{preamble} {rng.choice(others)}")

    store = Store(Path(tempfile.mkdtemp()) / "decontam.duckdb")
    register_benchmark(store, "math500", [problem_sets / "math500" / "math500.jsonl"])
    register_benchmark(store, "aime", sorted((problem_sets / "aime_2024_2025").glob("*.jsonl")))
    with store.transaction() as con:
        start = time.perf_counter()
        decontaminator = Decontaminator(con, ["math500", "aime"])
        flagged = set()
        for begin in range(0, len(prompts), 10_000):
            found = decontaminator.find_many(prompts[begin : begin + 10_000])
            flagged.update(begin + i for i, hit in enumerate(found) if hit is not None)
        ours = len(prompts) / (time.perf_counter() - start)

    start = time.perf_counter()
    grams = set()
    for problem in benchmark:
        tokens = words(problem)
        grams.update(" ".join(tokens[i : i + 8]) for i in range(max(1, len(tokens) - 7)))
    baseline_flagged = set()
    for index, prompt in enumerate(prompts):
        tokens = words(prompt)
        if grams.intersection(" ".join(tokens[i : i + 8]) for i in range(max(1, len(tokens) - 7))):
            baseline_flagged.add(index)
    baseline = len(prompts) / (time.perf_counter() - start)

    print(f"{len(prompts):,} prompts vs {len(benchmark):,} benchmark problems (MATH-500 + AIME), 8-grams")
    print(
        f"cotfactory: {ours:9.0f} prompts/s  flagged {len(flagged):,}, planted {len(planted):,}, "
        f"both {len(flagged & planted):,}"
    )
    print(f"python set: {baseline:9.0f} prompts/s  flagged {len(baseline_flagged):,}")
    extra = len(flagged - planted)
    print(
        f"decontam vs python set: ratio={ours / baseline:.2f} (target: report), {ours:.0f} prompts/s, "
        f"recall={len(flagged & planted) / max(1, len(planted)):.3f}, unplanted flagged={extra}"
    )


if __name__ == "__main__":
    main()
