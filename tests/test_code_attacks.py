"""The `code_tests` check against programs written to cheat it or to outlive it, as a hostile model would write
them. For each class of attack, several programs: each asserts the verdict and that nothing of the sandbox is
alive afterwards (no process of a slot's uid, empty slot cgroups), and for host-wide resources that the
host's AIO and pty counts are where they were."""

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sandbox import live_processes_of_uids

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

DAEMONS = [
    """
    import ctypes, os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(1, 0)  # no parent-death signal
            time.sleep(120)
        os._exit(0)
    a, b = map(int, input().split())
    print(a + b)
    """,
    """
    import signal, subprocess, sys
    for _ in range(20):
        sleeper = "import signal, time\\nfor s in (1, 2, 15): signal.signal(s, signal.SIG_IGN)\\ntime.sleep(120)"
        subprocess.Popen([sys.executable, "-c", sleeper],
                         start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    a, b = map(int, input().split())
    print(a + b)
    """,
    """
    import os, signal
    # every other process it can see, signalled, traced or patched: there is none
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    for pid in others:
        try:
            with open(f"/proc/{pid}/mem", "r+b") as memory:
                memory.write(b"x")
        except OSError:
            pass
    os.kill(1, signal.SIGKILL)  # itself, as pid 1 of its namespace: refused by the kernel
    a, b = map(int, input().split())
    print(a + b + len(others))
    """,
]


@pytest.mark.parametrize("program", DAEMONS, ids=["double-fork", "twenty-sessions", "pid-1"])
def test_processes_a_program_leaves_do_not_outlive_its_run(program: str) -> None:
    verdict = check(program, SUM_STDIO)
    assert verdict.passed, verdict  # the output is right; what it left behind ends with it


def test_a_busy_child_with_closed_streams_is_killed_with_its_spinning_parent() -> None:
    program = """
    import os
    if os.fork() == 0:
        os.close(1)
        os.close(2)
        while True:
            pass
    while True:
        pass
    """
    assert check(program, SUM_STDIO).reason == "sandbox_timeout"


def test_the_next_run_in_a_slot_starts_from_an_empty_slot() -> None:
    for program in DAEMONS[:2]:
        check(program, SUM_STDIO)
        assert sandbox_processes() == []
    assert check(HONEST_SUM, SUM_STDIO).passed


def test_without_root_the_pid_namespace_still_ends_every_process() -> None:
    """As an unprivileged user there is no slot uid and no cgroup: killing the sandbox's pid 1 from outside
    ends everything it started. (When the tests run as root, the child drops to `nobody` after its imports,
    so the checkout need not be readable by that user.)"""
    # the daemons, and a pid 1 that clears its own parent-death signal and sleeps past the wall clock: without
    # the kill from outside it would outlive its killed monitor
    lingering = "import ctypes, os, sys, time\nctypes.CDLL(None).prctl(1, 0)\nprint(3)\nsys.stdout.flush()\n" \
                "os.close(1)\nos.close(2)\ntime.sleep(120)\n"  # fmt: skip
    programs = [textwrap.dedent(DAEMONS[0]).encode(), lingering.encode()]
    script = textwrap.dedent(
        f"""
        import json, os
        from cotfactory.filters.sandbox import Limits, Sandbox
        from cotfactory.filters.sandbox.seccomp_policy import seccomp_bpf
        seccomp_bpf()
        if os.geteuid() == 0:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
        results = [Sandbox(slots=1).run({{"main.py": program}}, "main.py", stdin=b"1 2\\n",
                                        limits=Limits(wall_s=3, cpu_s=3)) for program in {programs!r}]
        alive = []
        for entry in os.listdir("/proc"):  # any sandboxed program still running, seen from the host
            try:
                cmdline = open(f"/proc/{{entry}}/cmdline", "rb").read() if entry.isdigit() else b""
                if entry != str(os.getpid()) and b"/sandbox/main.py" in cmdline:
                    alive.append(entry)
            except OSError:
                pass
        print(json.dumps({{"stdout": [r.stdout.decode() for r in results], "timed_out": [r.timed_out for r in results],
                          "alive": alive, "uid": os.getuid()}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={"HOME": "/tmp", "PATH": os.environ["PATH"]}, cwd="/tmp",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    uid = 65534 if os.geteuid() == 0 else os.getuid()
    assert seen == {"stdout": ["3\n", "3\n"], "timed_out": [False, True], "alive": [], "uid": uid}


# 2. Forged results: nothing the program writes decides a pass.

FORGERS = [
    # a report of passes for every case, in order, then an exit before the harness reports
    FIND_TAG
    + """
import os
def add(a, b):
    tag = find_tag()
    os.write(1, ("\\n" + tag + '[0, "pass", 3]\\n').encode())
    os.write(1, ("\\n" + tag + '[1, "pass", 42]\\n').encode())
    os._exit(0)
""",
    # a passing load stage and case written while the program loads, ahead of the harness's own
    FIND_TAG
    + """
import sys
tag = find_tag()
print()
print(tag + '["load", "pass", null]')
print(tag + '[0, "pass", 3]')
print(tag + '[1, "pass", 42]')
sys.stdout.flush()
def add(a, b):
    return 0
""",
    # a value equal to everything
    """
class Anything:
    def __eq__(self, other):
        return True
    def __sub__(self, other):
        return 0
    def __abs__(self):
        return 0
def add(a, b):
    return Anything()
""",
    # the harness's json.dumps replaced, so every report says pass with the right-looking value
    """
import json
real = json.dumps
def forged(value, *args, **kwargs):
    if isinstance(value, list) and value and value[0] not in ("load", "setup"):
        value = [value[0], "pass", 3]
    return real(value, *args, **kwargs)
json.dumps = forged
def add(a, b):
    return a * b
""",
    # a forked child that races the real report with a copy of its own
    FIND_TAG
    + """
import os, time
def add(a, b):
    if a == 1 and os.fork() == 0:
        time.sleep(0.05)
        os.write(1, ("\\n" + find_tag() + '[1, "pass", 42]\\n').encode())
        os._exit(0)
    time.sleep(0.2)
    return a + b
""",
]


@pytest.mark.parametrize("tests", [ADD_CALLS, ADD_ASSERTS, HUMANEVAL_ADD], ids=["calls", "asserts", "humaneval"])
@pytest.mark.parametrize("program", FORGERS, ids=["report", "early-load", "always-equal", "dumps", "race"])
def test_forged_reports_and_values_fail(program: str, tests: CodeTests) -> None:
    verdict = check(program, tests)
    assert not verdict.passed, verdict
    assert verdict.reason in ("tests_failed", "runtime_error"), verdict


@pytest.mark.parametrize("tests", [ADD_CALLS, ADD_ASSERTS, HUMANEVAL_ADD], ids=["calls", "asserts", "humaneval"])
def test_an_honest_program_passes_every_case_judged_outside(tests: CodeTests) -> None:
    verdict = check(HONEST_ADD, tests)
    assert verdict.passed, verdict
    assert verdict.detail == f"{3 if tests is HUMANEVAL_ADD else 2}/{3 if tests is HUMANEVAL_ADD else 2} tests passed"


def test_builtins_replaced_in_the_namespace_change_no_outside_comparison() -> None:
    program = """
import builtins
builtins.abs = lambda value: 0
builtins.AssertionError = type("Never", (Exception,), {})
def add(a, b):
    return a - b
"""
    assert check(program, HUMANEVAL_ADD).reason == "tests_failed"


# 3. Numbers compared as judges compare them.


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
