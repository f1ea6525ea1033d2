"""Check chain throughput: the default chain on 8 KB traces, process pool vs a plain loop, same process.

    python benchmarks/checks_throughput.py [--samples 600] [--workers 2] [--data ../shared/data]

Traces are real Qwen2.5-Math solutions (../shared/data when present, else generated text) joined into 8 KB
reasonings with a boxed final answer. The baseline applies the same checks one sample at a time in a plain
loop in this process; the runner sends samples to its worker pool. Also prints math-verify's share of the
loop's time. Target: pool/loop >= 1.6 on 2 cores.
"""

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import DEFAULT_CHECKS, _apply, build_checks

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_samples(count: int, data: Path) -> list[Sample]:
    rng = random.Random(0)
    path = data / "traces" / "qwen25math_cot_maj8" / "traces.jsonl"
    if path.exists():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        texts = [row["trace"].replace("\\boxed", "") for row in rows]
        problems = [(row["problem"], row["reference"]) for row in rows]
    else:
        words = "we compute the sum of the roots and check the discriminant so the value follows".split()  # noqa: SIM905
        texts = [" ".join(rng.choice(words) for _ in range(150)) for _ in range(200)]
        problems = [("What is 2+2?", "4")] * 200
    samples = []
    for index in range(count):
        problem, reference = problems[index % len(problems)]
        parts: list[str] = []
        while sum(map(len, parts)) < 8000:
            parts.append(rng.choice(texts))
        reasoning = "\n\n".join(parts)[:8000]
        answer = f"The final answer is $\\boxed{{{reference if index % 4 else '0'}}}$."
        completion = f"<think>\n{reasoning}\n</think>\n\n{answer}"
        samples.append(Sample.from_completion(problem, completion, reference=reference, target_language="en"))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = make_samples(args.samples, args.data)
    chain = build_checks(DEFAULT_CHECKS)
    math_only = [c for c in chain if c.name == "math_verify"]

    _apply(chain, samples[0], stop_at_failure=True)  # warm-up: imports math-verify and sympy
    loop_times, pool_times = [], []
    with Chain(chain, workers=args.workers) as runner:
        runner.run(samples[: args.workers * 2])  # start the workers (spawned interpreters import sympy)
        for _ in range(args.repeats):  # interleaved, so drift of the machine hits both alike
            start = time.perf_counter()
            loop_decisions = [_apply(chain, sample, stop_at_failure=True) for sample in samples]
            loop_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            decisions = runner.run(samples)
            pool_times.append(time.perf_counter() - start)
    loop, pooled = statistics.median(loop_times), statistics.median(pool_times)
    start = time.perf_counter()
    for sample, verdicts in zip(samples, loop_decisions, strict=True):
        if "math_verify" in verdicts:
            _apply(math_only, sample, stop_at_failure=True)
    math_time = time.perf_counter() - start
    accepted = sum(d.accepted for d in decisions)
    loop_accepted = sum(all(v.passed for v in verdicts.values()) for verdicts in loop_decisions)
    assert accepted == loop_accepted, "the pool and the loop must decide alike"
    print(f"{len(samples)} samples of 8 KB, {accepted} accepted")
    print(f"plain loop:             {len(samples) / loop:8,.0f} samples/s")
    print(f"runner, {args.workers} workers:      {len(samples) / pooled:8,.0f} samples/s")
    print(f"math-verify share of the loop's time: {math_time / loop:.0%}")
    print(f"check chain, pool vs loop: ratio={loop / pooled:.2f} (target >= 1.6 on 2 cores)")


if __name__ == "__main__":
    main()
