"""A run over a batch of code samples that mixes honest programs with attacks on the sandbox's lifetime, on
the verdict and on the checker's text handling: the run completes, every wrong program is rejected, every
honest one accepted, nothing of the sandbox is alive afterwards, and the export holds the honest ones."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from code_attack_kit import FIND_TAG, sandbox_processes
from helpers import cli
from run_configs import write_config

from cotfactory.storage import query

PROBLEMS = {
    "sum": ("Read two integers from one line and print their sum.",
            {"stdio": [{"input": "1 2\n", "output": "3\n"}, {"input": "40 2\n", "output": "42\n"}]}),
    "add": ("Write add(a, b) returning the sum of a and b.",
            {"function": "add", "calls": [{"args": [1, 2], "expected": 3}, {"args": [20, 22], "expected": 42}]}),
    "mbpp": ("Write a function add(a, b) that adds two numbers.",
             {"asserts": ["assert add(1, 2) == 3", "assert add(20, 22) == 42"]}),
    "humaneval": ("Complete add(a, b): return a + b.",
                  {"setup": "def check(candidate):\n    assert candidate(1, 2) == 3\n"
                            "    assert candidate(2, 2) == 4\n",
                   "asserts": ["check(add)"]}),
}  # fmt: skip

HONEST_SUM = "a, b = map(int, input().split())\nprint(a + b)"
HONEST_ADD = "def add(a, b):\n    return a + b"
DAEMON = """import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(1, 0)
        x = bytearray(200 << 20)
        time.sleep(120)
    os._exit(0)
"""
FORGE = (
    FIND_TAG
    + """
import os
def add(a, b):
    tag = find_tag()
    for index, value in enumerate((3, 42, 4)):
        os.write(1, ("\\n" + tag + json.dumps([index, "pass", value]) + "\\n").encode())
    os._exit(0)
import json
"""
)
ALWAYS_EQUAL = "class A:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return A()"
SURROGATE_ERROR = "def add(a, b):\n    raise ValueError('\\udc80\\x00')"
BAD_BYTES = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\n')"

# (problem, program, honest): five samples per problem, 20 in all
SAMPLES = [
    ("sum", HONEST_SUM, True), ("sum", "print(sum(map(int, input().split())))", True),
    ("sum", DAEMON + "a, b = map(int, input().split())\nprint(a - b)", False),
    ("sum", BAD_BYTES, False), ("sum", "print('x' * (1 << 21))", False),
    ("add", HONEST_ADD, True), ("add", "add = lambda a, b: b + a", True), ("add", FORGE, False),
    ("add", ALWAYS_EQUAL, False), ("add", SURROGATE_ERROR, False),
    ("mbpp", HONEST_ADD, True), ("mbpp", "def add(a, b):\n    return sum((a, b))", True),
    ("mbpp", ALWAYS_EQUAL, False), ("mbpp", DAEMON + "def add(a, b):\n    return a * b", False),
    ("mbpp", FORGE, False),
    ("humaneval", HONEST_ADD, True), ("humaneval", "def add(a, b):\n    return a - (-b)", True),
    ("humaneval", ALWAYS_EQUAL, False), ("humaneval", FORGE, False),
    ("humaneval", "def add(a, b):\n    return a + b + 1", False),
]  # fmt: skip


def completion(index: int, program: str) -> str:
    # the reasoning carries hostile text of its own: a lone surrogate, a NUL, invalid-looking escapes, and in
    # one honest sample a 1 MiB line
    huge = "x" * (1 << 20) + "\n" if index == 1 else ""
    return (f"<think>\nSample {index}: I will write the program. Odd text: \udc80 \x00 \\xff.\n{huge}</think>\n"
            f"Here it is.\n```python\n# sample {index}\n{program}\n```\n")  # fmt: skip


@pytest.mark.slow
def test_a_run_over_a_hostile_batch_completes_rejecting_every_wrong_program(prefect_api: str, tmp_path: Path) -> None:
    (tmp_path / "problems.jsonl").write_text(
        "".join(json.dumps({"problem": problem, "tests": tests}) + "\n" for problem, tests in PROBLEMS.values())
    )
    traces = [{"problem": PROBLEMS[name][0], "completion": completion(i, program)}
              for i, (name, program, _) in enumerate(SAMPLES)]  # fmt: skip
    (tmp_path / "traces.jsonl").write_text("".join(json.dumps(trace) + "\n" for trace in traces))
    config = write_config(
        tmp_path,
        {
            "name": "hostile",
            "db": "store.duckdb",
            "samples_per_round": 5,
            "target_accepted": 5,
            "max_rounds": 1,
            "batch_size": 4,
            "checks": ["think_format", "truncated", "non_empty", {"name": "code_tests", "time_limit_s": 1.0}],
            "prompts": {"files": ["problems.jsonl"], "source": "hostile", "language": "en"},
            "sampler": {"kind": "replay", "paths": ["traces.jsonl"]},
            "dedup": {"enabled": False},
            "checking": {"workers": 2},
        },
    )
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "COLUMNS": "200"}
    done = subprocess.run([*cli(), "run", str(config)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "completed" in done.stderr
    db = tmp_path / "store.duckdb"
    outcomes = query(
        "SELECT c.completion, o.accepted, o.reject_check, o.reject_reason FROM outcomes o JOIN completions c "
        "USING (sample_id)", db
    ).rows()  # fmt: skip
    by_index = {int(text.split("# sample ")[1].split("\n")[0]): (ok, check, why) for text, ok, check, why in outcomes}
    assert sorted(by_index) == list(range(len(SAMPLES)))
    for index, (name, _, honest) in enumerate(SAMPLES):
        accepted, check, reason = by_index[index]
        assert accepted is honest, (index, name, check, reason)
        if not honest:
            assert check == "code_tests", (index, name, check, reason)
    assert sandbox_processes() == []
    # the hostile text is stored escaped, and the export of the honest samples carries it
    assert all("\\udc80" in text and "\x00" in text for text, *_ in outcomes)
    export = subprocess.run([*cli(), "export", "--db", str(db), "--run", query("SELECT run_id FROM runs", db).item(),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert export.returncode == 0, export.stderr
    exported = [json.loads(line) for shard in (tmp_path / "out").glob("*.jsonl") for line in shard.open()]
    assert len(exported) == sum(honest for *_, honest in SAMPLES)
    assert all("\\udc80" in row["messages"][-1]["content"] for row in exported)
    assert max(len(row["messages"][-1]["content"]) for row in exported) > 1 << 20
