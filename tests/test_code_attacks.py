"""The `code_tests` check against programs written to cheat it or to outlive it, as a hostile model would write
them. For each class of attack, several programs: each asserts the verdict and that nothing of the sandbox is
alive afterwards (no process of a slot's uid, empty slot cgroups), and for host-wide resources that the
host's AIO and pty counts are where they were."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from code_attack_kit import (
    ADD_ASSERTS,
    ADD_CALLS,
    FIND_TAG,
    HONEST_ADD,
    HONEST_SUM,
    HUMANEVAL_ADD,
    SUM_STDIO,
    check,
    nothing_left_behind,  # noqa: F401  (autouse: nothing a program leaves may outlive its test)
    sandbox_processes,
)

from cotfactory.storage.code_problems import CodeTests

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
