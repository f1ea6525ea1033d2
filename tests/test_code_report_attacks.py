"""The `code_tests` check against programs that aim at the checker's reading of what they return and write:
forged reports nested deep or typed wrong, deep and huge values, huge numbers on stdout. Each class in several
forms, each asserting a rejecting verdict that names what happened, and that nothing of the sandbox is left."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from code_attack_kit import ADD_CALLS, CHECK, FIND_TAG, HONEST_ADD, HUMANEVAL_ADD, check, nothing_left_behind

from cotfactory.filters.sandbox import Limits, Sandbox
from cotfactory.storage.code_problems import CodeTests

__all__ = ["nothing_left_behind"]  # the autouse fixture: no process of a slot's uid after each test

# Finds the case the harness is running (its index and token) in the frames above the program's function.
FIND_CASE = """
import sys
def find_case():
    frame = sys._getframe()
    while frame is not None:
        case = frame.f_locals.get("case")
        if isinstance(case, dict) and "token" in case:
            return case
        frame = frame.f_back
"""
# Asserts that run inside (not of a shape judged outside): a forged pass would count for them.
INSIDE_ASSERTS = CodeTests.model_validate({"asserts": ["assert add(1, 2) + 0 == 3", "assert [add(2, 2)] == [4]"]})


def forging(entry: str, *, at_load: bool = False) -> str:
    """A program that writes a report line of its own (`entry`, a Python expression over `tag` and `case`),
    then answers honestly; `at_load`: a load stage and the line while loading, and no function at all."""
    write = f"os.write(1, ('\\n' + tag + {entry} + '\\n').encode())"
    if at_load:
        return FIND_TAG + f"\nimport os\ntag = find_tag()\ncase = None\nos.write(1, ('\\n' + tag + " \
                          f"'[\"load\", \"pass\", null]\\n').encode())\n{write}\n"  # fmt: skip
    return FIND_TAG + FIND_CASE + f"\nimport os\ndef add(a, b):\n    tag, case = find_tag(), find_case()\n" \
                                  f"    {write}\n    return a + b\n"  # fmt: skip


DEEP_REPORTS = {
    "lists": "'[' * 5000",
    "dicts": "'{\"a\": ' * 5000",
    "value": "'[%d, \"%s\", \"pass\", ' % (case['index'], case['token']) + '[' * 3000 + ']' * 3000 + ']'",
    "in-string-and-out": "'[\"' + '[' * 20000 + '\", ' + '[' * 3000",
}


@pytest.mark.parametrize("tests", [ADD_CALLS, HUMANEVAL_ADD, INSIDE_ASSERTS], ids=["calls", "humaneval", "asserts"])
@pytest.mark.parametrize("entry", DEEP_REPORTS.values(), ids=DEEP_REPORTS.keys())
def test_a_deep_forged_report_is_a_failed_test(entry: str, tests: CodeTests) -> None:
    verdict = check(forging(entry), tests)
    assert verdict.reason == "tests_failed", verdict
    assert "does not add up" in (verdict.detail or "") and "levels deep" in (verdict.detail or ""), verdict
    assert check(HONEST_ADD, tests).passed  # and the next program in the slot is judged as ever


def test_strings_with_brackets_are_no_depth() -> None:
    """A near miss: an honest value that is a string of 5000 brackets nests nothing."""
    tests = CodeTests.model_validate({"function": "f", "calls": [{"args": [], "expected": "[" * 5000 + "{"}]})
    assert check("def f():\n    return '[' * 5000 + '{'", tests).passed


MISTYPED = {
    "float-index": "'[%r, \"%s\", \"pass\", 3]' % (float(case['index']), case['token'])",
    "bool-index": "'[true, \"%s\", \"pass\", 3]' % case['token']",
    "numeric-token": "'[%d, 7, \"pass\", 3]' % case['index']",
    "extra-field": "'[%d, \"%s\", \"pass\", 3, 0]' % (case['index'], case['token'])",
    "missing-field": "'[%d, \"%s\", \"pass\"]' % (case['index'], case['token'])",
    "list-kind": "'[%d, \"%s\", [\"pass\"], 3]' % (case['index'], case['token'])",
    "dict-entry": '\'{"0": ["pass"]}\'',
    "nan": "'[%d, \"%s\", \"pass\", NaN]' % (case['index'], case['token'])",
    "huge-int": "'[%d, \"%s\", \"pass\", %s]' % (case['index'], case['token'], '9' * 5000)",
}


@pytest.mark.parametrize("tests", [ADD_CALLS, INSIDE_ASSERTS], ids=["calls", "asserts"])
@pytest.mark.parametrize("entry", MISTYPED.values(), ids=MISTYPED.keys())
def test_a_report_field_of_another_type_or_count_is_a_failed_test(entry: str, tests: CodeTests) -> None:
    verdict = check(forging(entry), tests)
    assert verdict.reason == "tests_failed" and "does not add up" in (verdict.detail or ""), verdict


@pytest.mark.parametrize("key", ["0.0", "false", "-0.0", "0e0"])
@pytest.mark.parametrize("tests", [INSIDE_ASSERTS, HUMANEVAL_ADD], ids=["asserts", "humaneval"])
def test_a_program_without_its_function_cannot_forge_the_cases_at_load(key: str, tests: CodeTests) -> None:
    verdict = check(forging(f"'[{key}, \"pass\", null]'", at_load=True), tests)
    assert verdict.reason == "tests_failed" and "does not add up" in (verdict.detail or ""), verdict


DEEP_VALUES = {
    "list-300": "x = [x]",
    "tuple-300": "x = (x,)",
    "dict-300": "x = {1: x}",
    "set-300": "x = frozenset([x])",
    "mixed-300": "x = [{'k': (x,)}]",
}


@pytest.mark.parametrize("tests", ["calls", "asserts"])
@pytest.mark.parametrize("step", DEEP_VALUES.values(), ids=DEEP_VALUES.keys())
def test_a_deep_returned_value_is_a_failed_test(step: str, tests: str) -> None:
    expected = [[3]]
    spec = (
        {"function": "f", "calls": [{"args": [], "expected": expected}]}
        if tests == "calls"
        else {"asserts": [f"assert f() == {expected!r}"]}
    )
    program = f"def f():\n    x = 3\n    for _ in range(300):\n        {step}\n    return x"
    verdict = check(program, CodeTests.model_validate(spec))
    assert verdict.reason == "tests_failed" and "nested deeper than" in (verdict.detail or ""), verdict


def test_a_value_nested_within_the_cap_is_judged() -> None:
    """A near miss: 30 levels is a value like any other, right or wrong."""
    value: object = 3
    for _ in range(30):
        value = [value]
    tests = CodeTests.model_validate({"function": "f", "calls": [{"args": [], "expected": value}]})
    assert check("def f():\n    x = 3\n    for _ in range(30):\n        x = [x]\n    return x", tests).passed
    assert check("def f():\n    x = 4\n    for _ in range(30):\n        x = [x]\n    return x", tests).reason == (
        "tests_failed"
    )


@pytest.mark.parametrize(
    ("printed", "expected", "passes"),
    [
        ("'1' * 5000", "1" * 5000, True),
        ("'1' * 4999 + '2'", "1" * 5000, False),
        ("'+000' + '7' * 6000", "7" * 6000, True),  # as int() would say, without int()
        ("'-' + '7' * 6000", "7" * 6000, False),
        ("'-0'", "0", True),
        ("'9' * 60_000", "3", False),
        ("'9' * 60_000", "3.0", False),
        ("'8' * 60_000 + '.5'", "1e60000", False),
        ("'1' + '0' * 5000 + '.0'", "1e5000", True),  # a real answer far past float's range
        ("'1e99999999999999999999'", "1e400", False),
    ],
)
def test_huge_numbers_on_stdout_compare_as_digits(printed: str, expected: str, passes: bool) -> None:
    tests = CodeTests.model_validate({"stdio": [{"input": "", "output": expected + "\n"}]})
    verdict = check(f"print({printed})", tests)
    assert verdict.passed is passes, verdict
    assert verdict.reason in (None, "tests_failed"), verdict


def test_a_huge_returned_int_is_reported_opaque_and_fails() -> None:
    tests = CodeTests.model_validate({"function": "f", "calls": [{"args": [], "expected": 3}]})
    verdict = check("def f():\n    return 2 ** 20000", tests)
    assert verdict.reason == "tests_failed" and "an int of 20001 bits" in (verdict.detail or ""), verdict
    assert check("def f():\n    return 2 ** 4000 - 2 ** 4000 + 3", tests).passed


class _Breaking:
    """A conversation that raises on the program's first output, as a bug in reading a report would."""

    deadline = None

    def opening(self) -> bytes:
        return b""

    def heard(self, chunk: bytes) -> bytes | None:
        raise RuntimeError("the checker broke")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_an_exception_while_the_program_runs_ends_the_sandbox_first() -> None:
    token = "still-running-" + os.urandom(4).hex()
    program = f"import time\nprint('{token}', flush=True)\nbuffer = bytearray(200 << 20)\ntime.sleep(60)\n"
    sandbox, before = Sandbox(slots=2), _open_fds()
    with pytest.raises(RuntimeError, match="the checker broke"):
        sandbox.run({"main.py": program.encode()}, "main.py", limits=Limits(wall_s=30), conversation=_Breaking())
    assert _open_fds() == before  # no pidfd, pipe or memory file left open
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and token in _cmdline(p)]


def _cmdline(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


AS_NOBODY = textwrap.dedent(
    """
    import json, os, sys, textwrap
    from cotfactory.filters.checks import Sample
    from cotfactory.filters.code_tests import CodeTestsCheck
    from cotfactory.filters.sandbox.seccomp_policy import seccomp_bpf
    from cotfactory.storage.code_problems import CodeTests
    seccomp_bpf()
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
    programs, tests = json.loads(sys.argv[1]), sys.argv[2]
    checker = CodeTestsCheck(time_limit_s=1.0, max_output_kb=64, slots=1)
    verdicts = []
    for program in programs:
        answer = f"<think>x</think>\\n```python\\n{program}\\n```\\n"
        verdict = checker(Sample.from_completion("p", answer, domain="code", tests=tests))
        verdicts.append([verdict.reason, verdict.detail])
    alive = [e for e in os.listdir("/proc") if e.isdigit() and e != str(os.getpid())
             and b"/sandbox/" in open(f"/proc/{e}/cmdline", "rb").read()]
    print(json.dumps({"verdicts": verdicts, "alive": alive, "uid": os.getuid()}))
    """
)


@pytest.mark.skipif(os.geteuid() != 0, reason="the tests as a user run the check unprivileged already")
def test_as_an_unprivileged_user_a_deep_report_leaves_no_sandbox_behind() -> None:
    """Without slot uids and cgroups, the kill through the pid namespace alone must end the program that
    forged the report, holding memory and sleeping."""
    hold = "\n    buffer = bytearray(200 << 20)\n    import time\n    time.sleep(60)"
    programs = [
        forging(entry).replace("    return a + b", hold + "\n    return a + b") for entry in DEEP_REPORTS.values()
    ]
    done = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, json.dumps(programs), ADD_CALLS.model_dump_json()],
        capture_output=True, text=True, timeout=120, env={"HOME": "/tmp", "PATH": os.environ["PATH"]}, cwd="/tmp",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["uid"] == 65534 and seen["alive"] == []
    assert all(reason == "tests_failed" and "levels deep" in detail for reason, detail in seen["verdicts"]), seen


def test_the_checker_used_here_is_the_default_one() -> None:
    assert CHECK.max_time_limit_s == 60.0
