"""The code sandbox's cost: a trivial program in the sandbox vs a bare subprocess, and the `code_tests`
check's throughput on 200 small programs with 2 slots.

    python benchmarks/sandbox.py [--runs 60] [--programs 200] [--slots 2]

Both sides run `print(1)` with the system interpreter (/usr/bin/python3), alternating, in this process; the
sandbox side includes the slot lock, the seccomp filter, prlimit, bubblewrap's namespaces and mounts, the uid
switch and the output capture. Target: sandbox median at most 4x the bare one.
"""

import argparse
import random
import statistics
import subprocess
import time

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import build_checks
from cotfactory.filters.sandbox import Limits, Sandbox
from cotfactory.storage.code_problems import CodeTests

PYTHON = "/usr/bin/python3"


def trivial_runs(sandbox: Sandbox, runs: int) -> tuple[list[float], list[float]]:
    sandboxed, bare = [], []
    limits = Limits()
    for _ in range(runs):
        start = time.perf_counter()
        result = sandbox.run({"main.py": b"print(1)"}, "main.py", limits=limits)
        sandboxed.append(time.perf_counter() - start)
        assert result.stdout == b"1\n", result
        start = time.perf_counter()
        done = subprocess.run([PYTHON, "-c", "print(1)"], capture_output=True)
        bare.append(time.perf_counter() - start)
        assert done.stdout == b"1\n"
    return sandboxed, bare


def programs(count: int) -> list[tuple[Sample, bool]]:
    """Small stdin/stdout and function-call problems, about a third of the programs wrong."""
    rng = random.Random(0)
    made = []
    for index in range(count):
        a, b = rng.randint(-99, 99), rng.randint(-99, 99)
        wrong = index % 3 == 2
        if index % 2:
            tests = CodeTests(stdio=[{"input": f"{a} {b}\n", "output": str(a + b)}, {"input": "1 1", "output": "2"}])
            program = f"a, b = map(int, input().split())\nprint(a + b{' + 1' if wrong else ''})"
        else:
            tests = CodeTests(
                function="add", calls=[{"args": [a, b], "expected": a + b}, {"args": [0, 0], "expected": 0}]
            )
            program = f"def add(a, b):\n    return a + b{' - 1' if wrong else ''}"
        completion = f"<think>\nprogram {index}\n</think>\n```python\n{program}\n```\n"
        sample = Sample.from_completion(
            "p", completion, domain="code", tests=tests.model_dump_json(exclude_defaults=True)
        )
        made.append((sample, not wrong))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--programs", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2)
    args = parser.parse_args()

    sandbox = Sandbox(PYTHON, slots=args.slots)
    sandbox.check_available()
    trivial_runs(sandbox, 3)  # warm the page cache and the seccomp filter
    sandboxed, bare = trivial_runs(sandbox, args.runs)
    sandbox_ms, bare_ms = statistics.median(sandboxed) * 1000, statistics.median(bare) * 1000

    cases = programs(args.programs)
    chain = build_checks([{"name": "code_tests", "slots": args.slots}])
    with Chain(chain, workers=args.slots) as runner:
        runner.setup({"code"})
        runner.start()
        start = time.perf_counter()
        decisions = runner.run([sample for sample, _ in cases])
        elapsed = time.perf_counter() - start
    right = sum(decision.accepted == correct for decision, (_, correct) in zip(decisions, cases, strict=True))
    # a stdin/stdout case is one sandbox run; a problem's call cases share one
    runs = sum(len(CodeTests.model_validate_json(sample.tests or "").stdio) or 1 for sample, _ in cases)

    print(f"trivial program, median of {args.runs}: sandbox {sandbox_ms:.1f} ms, bare subprocess {bare_ms:.1f} ms")
    print(
        f"code_tests on {len(cases)} programs (2 tests each, {runs} sandbox runs), {args.slots} slots: "
        f"{len(cases) / elapsed:.1f} programs/s, {right}/{len(cases)} verdicts right"
    )
    print(f"sandbox vs bare subprocess: ratio={sandbox_ms / bare_ms:.2f} (target <= 4)")


if __name__ == "__main__":
    main()
