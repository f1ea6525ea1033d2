"""A batch of 200 code samples mixing honest programs with every class of attack on the checker (processes left
to a pid 1, forged deep or mistyped reports, deep and huge values, a megabyte of adversarial whitespace,
time limits that are no time limits) against the same batch with each hostile program replaced by an honest
one for the same problem.

    python benchmarks/hostile_batch.py [--slots 2] [--repeats 2]

Both batches run through the check runner with `code_tests` (its worker pool, 2 slots). Every hostile sample
must be rejected with a verdict naming what it did, every honest one accepted, and no process of the slots'
uids may be left. Target: the hostile batch's wall time at most 1.2x the honest one's.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sandbox_probes import live_processes_of_uids
from test_code_report_attacks import DEEP_REPORTS, MISTYPED, forging

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.code_extract import last_program
from cotfactory.filters.runner import build_checks
from cotfactory.filters.sandbox.slots import DEFAULT_BASE_UID

ADD = {"function": "add", "calls": [{"args": [1, 2], "expected": 3}, {"args": [20, 22], "expected": 42}],
       "time_limit_s": 0.25}  # fmt: skip
INSIDE = {"asserts": ["assert add(1, 2) + 0 == 3", "assert [add(2, 2)] == [4]"], "time_limit_s": 0.25}
NESTED = {"function": "f", "calls": [{"args": [], "expected": [[3]]}]}
BIG = {"stdio": [{"input": "", "output": "7" * 6000 + "\n"}]}
HONEST = {"add": "def add(a, b):\n    return a + b", "f": "def f():\n    return [[3]]", "big": "print('7' * 6000)"}
ZOMBIE = "import ctypes, os, time\ndef add(a, b):\n    if os.fork() == 0:\n        ctypes.CDLL(None).prctl(1, 0)\n" \
         "        time.sleep(60)\n    time.sleep(60)\n"  # fmt: skip
WHITESPACE = "```" + " " * (1 << 20) + "`\n"
HOLD = "\n    buffer = bytearray(100 << 20)\n    import time\n    time.sleep(60)\n    return a + b"

# (class, tests, honest program's key, hostile program, what the verdict must say), five of each
HOSTILE = [
    *[("zombies", ADD, "add", ZOMBIE, "sandbox_timeout")] * 5,
    *[("deep-report", ADD, "add", forging(e), "levels deep") for e in list(DEEP_REPORTS.values())[:3]],
    *[("deep-report-held", INSIDE, "add", forging(e).replace("\n    return a + b", HOLD), "levels deep")
      for e in list(DEEP_REPORTS.values())[:2]],
    *[("deep-value", NESTED, "f", f"def f():\n    x = 3\n    for _ in range({n}):\n        x = [x]\n    return x",
       "nested deeper than") for n in (50, 100, 300, 1000, 3000)],
    *[("huge-int", BIG, "big", f"print('7' * 5999 + '{d}')", "expected") for d in "12345"],
    *[("mistyped", tests, "add", forging(MISTYPED[k]), "does not add up")
      for k, tests in [("float-index", INSIDE), ("bool-index", ADD), ("numeric-token", INSIDE),
                       ("extra-field", ADD), ("huge-int", ADD)]],
    *[("whitespace", ADD, "add", "def add(a, b):\n    return a - b", "returned")] * 5,
    *[("time-limit", {**ADD, "time_limit_s": t}, "add", "def add(a, b):\n    while True:\n        pass",
       "sandbox_timeout") for t in (float("inf"), 1e9, float("nan"), -1.0, 1e300)],
]  # fmt: skip


def completion(index: int, program: str, whitespace: bool) -> str:
    return f"<think>\nsample {index}\n</think>\n{WHITESPACE if whitespace else ''}```python\n{program}\n```\n"


def batch(hostile: bool, size: int) -> list[tuple[Sample, str | None]]:
    """`size` samples, one in five hostile (or, without `hostile`, its honest replacement); (sample, what the
    verdict must say, or None for an honest sample)."""
    made = []
    for index in range(size):
        kind, tests, honest, program, said = HOSTILE[(index // 5) % len(HOSTILE)]
        attack = index % 5 == 4
        text = completion(index, program if attack and hostile else HONEST[honest], attack and kind == "whitespace")
        spec = json.dumps(tests)  # as stored: NaN and Infinity included (the checker clamps them)
        made.append(
            (Sample.from_completion("p", text, domain="code", tests=spec), said if attack and hostile else None)
        )
    return made


def run(chain: list, slots: int, samples: list[tuple[Sample, str | None]]) -> float:
    with Chain(chain, workers=slots) as runner:
        runner.setup({"code"})
        runner.start()
        start = time.perf_counter()
        decisions = runner.run([sample for sample, _ in samples])
        elapsed = time.perf_counter() - start
    for index, (decision, (_, said)) in enumerate(zip(decisions, samples, strict=True)):
        verdict = decision.verdicts.get("code_tests")
        text = f"{decision.reason} {verdict.detail if verdict else ''}"
        assert decision.accepted is (said is None), (index, text[:300])
        assert said is None or said in text, (index, said, text[:300])
    left = live_processes_of_uids(range(DEFAULT_BASE_UID, DEFAULT_BASE_UID + slots))
    assert left == [], left
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    assert last_program(WHITESPACE + "```python\nx = 1\n```\n") == "x = 1\n"
    print(f"extraction from 1 MiB of adversarial whitespace: {time.perf_counter() - start:.3f} s")
    chain = build_checks([{"name": "code_tests", "slots": args.slots, "time_limit_s": 1.0, "max_time_limit_s": 0.25}])
    honest, hostile = batch(False, args.size), batch(True, args.size)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for kind, samples in ((False, honest), (True, hostile)):
            times[kind].append(run(chain, args.slots, samples))
    plain, attacked = statistics.median(times[False]), statistics.median(times[True])
    attacks = sum(said is not None for _, said in hostile)
    print(
        f"{args.size} samples ({attacks} hostile), {args.slots} slots: honest batch {plain:.1f} s, hostile "
        f"batch {attacked:.1f} s; every verdict right, no process left"
    )
    print(f"hostile vs honest batch wall time: ratio={attacked / plain:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
