"""Attacks on the code check through values and time: numbers printed or returned to pass as others, programs
that silence their timer, programs that drain host-wide pools, and hostile text in what a program writes."""

import json
import textwrap

import pytest
from code_attack_kit import (
    ADD_CALLS,
    FIND_TAG,
    HUMANEVAL_ADD,
    SUM_STDIO,
    check,
    host_counts,
    nothing_left_behind,  # noqa: F401  (autouse: nothing a program leaves may outlive its test)
)

from cotfactory.storage.code_problems import CodeTests


@pytest.mark.parametrize(
    ("printed", "expected", "passes"),
    [
        ("2880067194370824704", "2880067194370816120", False),  # a float formula's rounding
        ("1234567890124", "1234567890123", False),  # off by one on 13 digits
        ("５", "5", False),  # a fullwidth digit is not a digit
        ("5.0", "5", False),  # an integer answer is an integer
        ("0.33333333", "0.333333", True),  # a real answer within 1e-6
        ("1e-7", "0.0", True),
        ("0.3334", "0.333333", False),
        ("+5", "5", True),
    ],
)
def test_printed_numbers_compare_exactly_unless_the_answer_is_real(printed: str, expected: str, passes: bool) -> None:
    tests = CodeTests.model_validate({"stdio": [{"input": "", "output": expected + "\n"}]})
    assert check(f"print({printed!r})", tests).passed is passes


@pytest.mark.parametrize(
    ("returned", "expected", "wrapped", "passes"),
    [
        ("2880067194370824704.0", 2880067194370816120, False, False),
        ("5", [5], False, False),  # 5 is not [5]
        ("[5]", 5, False, False),
        ("5", [5], True, True),  # APPS's own judge accepts its wrapped form
        ("True", 1, False, False),
        ("0.1 + 0.2", 0.3, False, True),
        ("(1, 2)", [1, 2], False, True),  # a JSON problem cannot tell a tuple from a list
    ],
)
def test_returned_numbers_compare_exactly_unless_the_answer_is_real(
    returned: str, expected: object, wrapped: bool, passes: bool
) -> None:
    tests = CodeTests.model_validate(
        {"function": "f", "calls": [{"args": [], "expected": expected}], "expected_wrapped": wrapped}
    )
    assert check(f"def f():\n    return {returned}", tests).passed is passes


@pytest.mark.parametrize(
    ("returned", "assertion", "passes"),
    [
        ("(1, 2)", "assert f() == [1, 2]", False),  # Python's ==: a tuple is not a list
        ("{2: 'b'}", "assert f() == {2: 'b'}", True),  # dict keys keep their type
        ("{1, 2}", "assert f() == {2, 1}", True),
        ("1", "assert f() == True", True),  # as Python's == says
        ("1", "assert f() is True", False),
        ("[]", "assert not f()", True),
        ("2880067194370824704.0", "assert f() == 2880067194370816120", False),
    ],
)
def test_asserts_judged_outside_keep_pythons_equality(returned: str, assertion: str, passes: bool) -> None:
    tests = CodeTests.model_validate({"asserts": [assertion]})
    assert check(f"def f():\n    return {returned}", tests).passed is passes


# 4. Time limits the program cannot switch off.

SLOW_ADDS = [
    "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n",
    "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n",
    "import signal, time\n",  # its own function stops the timer
]


@pytest.mark.parametrize("prelude", SLOW_ADDS, ids=["ignored", "blocked", "disarmed"])
@pytest.mark.parametrize("tests", [ADD_CALLS, HUMANEVAL_ADD], ids=["calls", "humaneval"])
def test_a_program_that_silences_the_timer_still_times_out(prelude: str, tests: CodeTests) -> None:
    program = prelude + textwrap.dedent(
        """
        def add(a, b):
            signal.setitimer(signal.ITIMER_REAL, 0)
            end = time.monotonic() + 2.2
            while time.monotonic() < end:
                try:
                    pass
                except BaseException:
                    pass
            return a + b
        """
    )
    verdict = check(program, tests)
    assert verdict.reason == "sandbox_timeout", verdict
    assert "timed outside the program" in (verdict.detail or "")


def test_a_program_that_catches_the_timeout_and_goes_on_still_times_out() -> None:
    program = """
    import time
    def add(a, b):
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            try:
                time.sleep(0.01)
            except BaseException:
                pass
        return a + b
    """
    assert check(program, ADD_CALLS).reason == "sandbox_timeout"


# 5. Host-wide resources: denied, and the host's counts unchanged.

HOGS = [
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    contexts = [ctypes.c_ulong(0) for _ in range(2000)]
    made = sum(libc.syscall(206, 64, ctypes.byref(c)) == 0 for c in contexts)  # io_setup
    a, b = map(int, input().split())
    print(a + b + made)
    """,
    """
    import os, pty
    held = []
    openers = (os.openpty, lambda: os.open("/dev/ptmx", os.O_RDWR), lambda: os.open("/dev/pts/ptmx", os.O_RDWR))
    for opener in openers:
        for _ in range(100):
            try:
                held.append(opener())
            except OSError:
                break
    a, b = map(int, input().split())
    print(a + b + len(held))
    """,
    """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    rings = sum(libc.syscall(425, 8, params) >= 0 for _ in range(50))  # io_uring_setup
    kids = 0
    for _ in range(30):
        try:
            if os.fork() == 0:
                import pty
                try:
                    pty.openpty()
                except OSError:
                    pass
                os._exit(0)
            kids += 1
        except OSError:
            break
    a, b = map(int, input().split())
    print(a + b + rings)
    """,
]


@pytest.mark.parametrize("program", HOGS, ids=["aio", "ptys", "io-uring-and-forks"])
def test_host_wide_pools_cannot_be_drained(program: str) -> None:
    before = host_counts()
    verdict = check(program, SUM_STDIO)
    assert verdict.passed, verdict  # every attempt was refused: nothing was added to the answer
    assert host_counts() == before


# 6. No text a program writes breaks the checker.


def _forged_line(payload: str) -> str:
    """A program that writes one tagged report line of its own, then answers honestly."""
    write = f"os.write(1, ('\\n' + find_tag() + {payload!r} + '\\n').encode())"
    return FIND_TAG + f"\nimport os\ndef add(a, b):\n    {write}\n    return a + b"


BREAKERS = {
    "surrogate-error": ("def add(a, b):\n    raise ValueError('\\udc80 bad \\x00 byte')", "runtime_error"),
    "bad-utf8": ("import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x00 not utf-8\\n')\ndef add(a, b):\n    return 0",
                 "tests_failed"),
    "1-mib": ("def add(a, b):\n    print('x' * (1 << 20))\n    return a + b", "output_limit"),
    "surrogate-value": ("def add(a, b):\n    return '\\udc80' * 10", "tests_failed"),
    "cut-report": (_forged_line("{"), "tests_failed"),
    "short-entry": (_forged_line("[1, 2]"), "tests_failed"),
    "dict-entry": (_forged_line('{"a": 1}'), "tests_failed"),
}  # fmt: skip


@pytest.mark.parametrize(("program", "reason"), BREAKERS.values(), ids=BREAKERS.keys())
def test_hostile_text_becomes_a_verdict_never_an_error(program: str, reason: str) -> None:
    verdict = check(program, ADD_CALLS)
    assert verdict.reason == reason, verdict
    json.dumps(verdict.detail, ensure_ascii=False).encode("utf-8")  # storable and printable
