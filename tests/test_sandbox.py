"""The sandbox against escape attempts by real programs. Each attempt is bounded (small limits, a wall clock)
so the machine stays healthy, and each test asserts the attempt failed and left nothing behind."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_probes import PROJECT, live_processes_with, report, run

from cotfactory.filters.sandbox import Limits, Sandbox


def test_a_plain_program_runs_and_sees_only_its_own_world(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        import json, os
        print(json.dumps({"root": sorted(os.listdir("/")), "cwd": os.getcwd(), "uid": os.getuid(),
                          "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}))
        """,
    )
    seen = report(result)
    assert seen["root"] == ["bin", "dev", "lib", "lib64", "proc", "sandbox", "tmp", "usr", "work"]
    assert seen["cwd"] == "/work"
    assert seen["pids"] == [1]  # the program is pid 1: no host process, and no other sandbox process, is visible
    if os.geteuid() == 0:
        assert seen["uid"] >= 1_500_000  # an unprivileged uid of its slot, not root


def test_no_connection_to_a_listener_on_localhost(sandbox: Sandbox) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        result = run(
            sandbox,
            f"""
            import json, socket
            outcomes = []
            for family, address in [(socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_INET6, ("::1", {port}))]:
                try:
                    socket.socket(family).connect(address)
                    outcomes.append("connected")
                except OSError as error:
                    outcomes.append(error.errno)
            print(json.dumps(outcomes))
            """,
        )
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody came
    assert "connected" not in report(result)


def outcome_per_path(sandbox: Sandbox, paths: list[str], action: str) -> dict:
    """Run `action`, an expression over `path`, on each path in the sandbox: its value, or the error's name."""
    program = f"""
        import json, os
        outcomes = {{}}
        for path in {paths!r}:
            try:
                outcomes[path] = {action}
            except OSError as error:
                outcomes[path] = type(error).__name__
        print(json.dumps(outcomes))
    """
    return report(run(sandbox, program))


def test_secrets_home_and_project_files_are_not_readable(sandbox: Sandbox) -> None:
    targets = ["/etc/shadow", "/etc/passwd", str(Path.home()), str(PROJECT / "pyproject.toml")]
    read = 'os.listdir(path) if os.path.isdir(path) else open(path, "rb").read()[:20].decode()'
    outcomes = outcome_per_path(sandbox, targets, read)
    for path in targets:
        assert outcomes[path] in ("FileNotFoundError", "PermissionError"), (path, outcomes[path])


def test_writes_outside_the_work_dir_fail_and_reach_no_host_file(sandbox: Sandbox, tmp_path: Path) -> None:
    host_file = tmp_path / "escaped"
    targets = ["/escaped", "/usr/escaped", "/sandbox/escaped", str(host_file), "/work/ok", "/tmp/ok"]
    outcomes = outcome_per_path(sandbox, targets, 'open(path, "w").write("x") and "written"')
    assert {path: outcomes[path] == "written" for path in targets} == {
        "/escaped": False, "/usr/escaped": False, "/sandbox/escaped": False, str(host_file): False,
        "/work/ok": True, "/tmp/ok": True,
    }  # fmt: skip
    assert not host_file.exists()
    assert not Path("/usr/escaped").exists()


def test_posix_system_runs_only_inside(sandbox: Sandbox, tmp_path: Path) -> None:
    host_file = tmp_path / "pwned"
    result = run(
        sandbox,
        f"""
        import posix
        status = posix.system("touch {host_file} 2>/dev/null; cat /etc/shadow 2>/dev/null; ls /root 2>/dev/null")
        print("status", status)
        """,
    )
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"status {256 * 2}"  # ls failed last: exit 2, nothing printed
    assert not host_file.exists()


def test_syscalls_through_ctypes_are_denied(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        import ctypes, json, socket
        libc = ctypes.CDLL(None, use_errno=True)
        calls = {
            "unshare": lambda: libc.unshare(0x10000000),
            "mount": lambda: libc.mount(b"none", b"/work", b"tmpfs", 0, None),
            "ptrace": lambda: libc.ptrace(16, 1, 0, 0),
            "socket_inet": lambda: libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0),
            "bpf": lambda: libc.syscall(321, 0, 0, 0),
            "keyctl": lambda: libc.syscall(250, 0, 0, 0),
            "setns": lambda: libc.setns(0, 0),
        }
        outcomes = {}
        for name, call in calls.items():
            ctypes.set_errno(0)
            outcomes[name] = [call(), ctypes.get_errno()]
        print(json.dumps(outcomes))
        """,
    )
    outcomes = report(result)
    assert all(value == -1 for value, _ in outcomes.values()), outcomes
    assert outcomes["socket_inet"][1] == 97  # EAFNOSUPPORT
    assert outcomes["unshare"][1] == 1 and outcomes["mount"][1] == 1  # EPERM


def test_a_fork_bomb_stops_at_the_process_limit_and_leaves_nothing(sandbox: Sandbox) -> None:
    token = "forkbomb-" + os.urandom(4).hex()
    result = run(
        sandbox,
        f"""
        import os, time
        forks = 0
        try:
            while forks < 200:
                if os.fork() == 0:
                    os.execv("/usr/bin/python3", ["python3", "-c", "import time; time.sleep(60)", "{token}"])
                forks += 1
        except OSError as error:
            print("stopped", forks, error.errno)
        """,
        Limits(wall_s=15, cpu_s=5, processes=32),
    )
    words = result.stdout.decode().split()
    assert words[0] == "stopped" and int(words[1]) < 32, result
    assert live_processes_with(token) == []


def test_a_4_gib_allocation_fails_under_a_512_mib_limit(sandbox: Sandbox) -> None:
    result = run(sandbox, "buffer = bytearray(4 << 30)\nprint('allocated')")
    assert result.returncode != 0
    assert b"allocated" not in result.stdout
    assert result.stderr.strip().endswith(b"MemoryError")


def test_killing_pid_1_the_parent_and_everyone_harms_nothing_outside(sandbox: Sandbox) -> None:
    canary = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        result = run(
            sandbox,
            """
            import os
            for pid in (1, os.getppid(), -1):
                try:
                    os.kill(pid, 9)
                except OSError as error:
                    print("refused", pid, error.errno)
            print("still here")
            """,
        )
        assert canary.poll() is None  # a host process of the same machine is untouched
        assert os.getppid() > 0
    finally:
        canary.kill()
        canary.wait()
    assert result.stdout.decode().strip().splitlines()[-1] in ("still here", "")  # kill(-1) may end the program
    assert live_processes_with("sleep(120)") == []


def test_a_double_forked_setsid_grandchild_does_not_outlive_the_run(sandbox: Sandbox) -> None:
    token = "grandchild-" + os.urandom(4).hex()
    result = run(
        sandbox,
        f"""
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/usr/bin/python3", ["python3", "-c", "import time; time.sleep(60)", "{token}"])
            os._exit(0)
        os.wait()
        print("left a grandchild behind")
        """,
    )
    assert result.stdout.decode().strip() == "left a grandchild behind"
    assert live_processes_with(token) == []


def test_the_parent_environment_is_not_visible(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COTFACTORY_TEST_SECRET", "s3cret-token")
    result = run(sandbox, "import os, json\nprint(json.dumps([dict(os.environ), open('/proc/1/environ').read()]))")
    environment, of_pid_1 = report(result)
    assert "COTFACTORY_TEST_SECRET" not in environment and "s3cret" not in of_pid_1
    assert set(environment) <= {"PATH", "LANG", "HOME", "PYTHONDONTWRITEBYTECODE", "PWD"}


def test_an_infinite_loop_is_killed_at_its_limit(sandbox: Sandbox) -> None:
    result = run(sandbox, "while True: pass", Limits(wall_s=3, cpu_s=1))
    assert result.returncode in (None, 128 + 9, 128 + 24)  # wall clock, or CPU limit (SIGKILL, SIGXCPU)
    assert result.wall_s < 3.5


def test_a_program_sleeping_forever_is_killed_at_the_wall_clock(sandbox: Sandbox) -> None:
    result = run(sandbox, "import time\ntime.sleep(60)", Limits(wall_s=1, cpu_s=5))
    assert result.timed_out and result.returncode is None
    assert result.wall_s < 2


def test_huge_output_is_capped(sandbox: Sandbox) -> None:
    result = run(sandbox, "while True: print('x' * 1000)", Limits(wall_s=10, output_bytes=100_000))
    assert result.output_exceeded
    assert len(result.stdout) <= 100_000


def test_stdin_reaches_the_program(sandbox: Sandbox) -> None:
    result = run(sandbox, "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))", stdin=b"1 2\n3\n")
    assert result.stdout == b"6\n"
