"""What the attack tests on the code check share: the check under attack, test specs and honest programs, and the
watch on what a program could leave running (an autouse fixture in each module that imports it)."""

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_probes import live_processes_of_uids

from cotfactory.filters.checks import Sample, Verdict
from cotfactory.filters.code_tests import CodeTestsCheck
from cotfactory.filters.sandbox.cgroup import slot_cgroup
from cotfactory.filters.sandbox.slots import DEFAULT_BASE_UID
from cotfactory.storage.code_problems import CodeTests

SLOTS = 2
CHECK = CodeTestsCheck(time_limit_s=1.0, max_output_kb=64, slots=SLOTS)

SUM_STDIO = CodeTests.model_validate(
    {"stdio": [{"input": "1 2\n", "output": "3\n"}, {"input": "40 2\n", "output": "42\n"}]}
)
ADD_CALLS = CodeTests.model_validate(
    {"function": "add", "calls": [{"args": [1, 2], "expected": 3}, {"args": [20, 22], "expected": 42}]}
)
ADD_ASSERTS = CodeTests.model_validate({"asserts": ["assert add(1, 2) == 3", "assert add(20, 22) == 42"]})
HUMANEVAL_ADD = CodeTests.model_validate(
    {
        "setup": "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n"
        "    assert candidate(20, 22) == 42\n    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-6\n",
        "asserts": ["check(add)"],
    }
)
HONEST_ADD = "def add(a, b):\n    return a + b"
HONEST_SUM = "a, b = map(int, input().split())\nprint(a + b)"

# Finds the harness's report tag the way a program can: in the frames above its own code.
FIND_TAG = """
import sys
def find_tag():
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, str) and len(value) == 24 and all(c in "0123456789abcdef" for c in value):
                return value
        frame = frame.f_back
    return None
"""


def check(program: str, tests: CodeTests, checker: CodeTestsCheck = CHECK) -> Verdict:
    code = textwrap.dedent(program).strip()
    completion = f"<think>\nLet me write it.\n</think>\nHere it is.\n```python\n{code}\n```\n"
    sample = Sample.from_completion("a code problem", completion, domain="code", tests=tests.model_dump_json())
    return checker(sample)


def sandbox_processes() -> list[str]:
    """Live (not zombie) processes of the slots' uids, and what the slot cgroups still hold."""
    found = live_processes_of_uids(range(DEFAULT_BASE_UID, DEFAULT_BASE_UID + SLOTS))
    for index in range(SLOTS):
        cgroup = slot_cgroup(index, DEFAULT_BASE_UID)
        if cgroup is not None:
            found += [f"pid {pid} in slot {index}'s cgroup" for pid in cgroup.pids()]
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    CHECK.sandbox.check_available()
    yield
    assert sandbox_processes() == []


def host_counts() -> tuple[int, int]:
    """The host's AIO contexts in use and ptys allocated."""
    return int(Path("/proc/sys/fs/aio-nr").read_text()), int(Path("/proc/sys/kernel/pty/nr").read_text())


# 1. Escape from the run's lifetime: a run's end is absolute, decided outside.
