"""The sandbox against escape attempts by real programs. Each attempt is bounded (small limits, a wall clock)
so the machine stays healthy, and each test asserts the attempt failed and left nothing behind."""

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cotfactory.filters.checks import CheckSetupError
from cotfactory.filters.sandbox import Limits, ProcessResult, Sandbox, SandboxUnavailable, seccomp_policy
from cotfactory.filters.sandbox.slots import hold_slot

LIMITS = Limits(wall_s=15, cpu_s=5, memory_mb=512, processes=64)
PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    built = Sandbox(slots=2)
    built.check_available()  # fails loudly here when bubblewrap or the seccomp binding is missing
    yield built
    assert live_processes_of_uids(range(built.base_uid, built.base_uid + built.slots)) == []


def live_processes_of_uids(uids: range) -> list[str]:
    """Running (not zombie) processes whose real uid is one of `uids`: what the probes could have left."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        if int(status["Uid"].split()[0]) in uids and not status["State"].strip().startswith("Z"):
            found.append(f"{entry.name}: {status['Name'].strip()}")
    return found


def run(sandbox: Sandbox, program: str, limits: Limits = LIMITS, stdin: bytes = b"") -> ProcessResult:
    return sandbox.run({"main.py": textwrap.dedent(program).encode()}, "main.py", stdin=stdin, limits=limits)


def report(result: ProcessResult) -> dict:
    """The JSON object the probe program printed last."""
    assert result.returncode == 0, result
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def live_processes_with(token: str) -> list[str]:
    """Running (not zombie) processes whose command line holds `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token in cmdline and state != "Z" and entry.name != str(os.getpid()):
            found.append(f"{entry.name}: {cmdline}")
    return found


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


def test_a_missing_bwrap_is_named_with_the_package_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "prlimit").symlink_to("/usr/bin/prlimit")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable, match=r"needs `bwrap`.*apt install bubblewrap.*unsafe_local_exec"):
        Sandbox().check_available()


def test_a_python_outside_usr_is_refused() -> None:
    with pytest.raises(SandboxUnavailable, match="not under /usr"):
        Sandbox(python=sys.executable if not sys.executable.startswith("/usr/") else "/opt/python").check_available()


def test_unsafe_local_exec_runs_plainly_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    unsafe = Sandbox(unsafe_local_exec=True)
    unsafe.check_available()
    assert "WITHOUT a sandbox" in caplog.text
    result = run(unsafe, "import os\nprint(os.getcwd().startswith('/work'))", Limits(wall_s=10))
    assert result.stdout == b"False\n"  # a temporary folder of the host, not the sandbox's /work
    assert run(unsafe, "while True: pass", Limits(wall_s=5, cpu_s=1)).returncode == -9


def test_slots_bound_how_many_programs_run_at_once() -> None:
    """One slot, three threads: the programs' running intervals (on the clock the namespaces share) are disjoint."""
    one_slot = Sandbox(slots=1, base_uid=1_600_000)
    program = "import time\nstart = time.monotonic()\ntime.sleep(0.3)\nprint(start, time.monotonic())"
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: run(one_slot, program), range(3)))
    intervals = sorted(tuple(map(float, result.stdout.split())) for result in results)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(intervals))


def test_a_machine_without_user_namespaces_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `bwrap` that fails as the real one does when user namespaces are switched off."""
    folder = Path(tempfile.mkdtemp(prefix="no-userns-"))
    try:
        folder.chmod(0o755)  # the slot's uid must reach it
        fake = folder / "bwrap"
        fake.write_text(
            "#!/bin/sh\necho 'bwrap: Creating new namespace failed: No space left on device' >&2\nexit 1\n"
        )
        fake.chmod(0o755)
        for tool in ("prlimit", "setpriv"):
            (folder / tool).symlink_to(f"/usr/bin/{tool}")
        monkeypatch.setenv("PATH", str(folder))
        with pytest.raises(
            SandboxUnavailable, match=r"Creating new namespace failed.*user namespaces seem unavailable"
        ):
            Sandbox().check_available()
    finally:
        shutil.rmtree(folder)


def test_a_missing_seccomp_binding_is_named() -> None:
    # this interpreter (a virtual environment) has no libseccomp binding, as a machine without python3-seccomp
    with pytest.raises(CheckSetupError, match=r"apt install python3-seccomp"):
        seccomp_policy._compile_with(sys.executable)


def test_memory_backed_folders_fill_up_at_their_caps(sandbox: Sandbox) -> None:
    """/tmp, /work and /dev/shm live in the host's memory: each stops at its cap, and /dev takes nothing."""
    result = run(
        sandbox,
        """
        import json
        written = {}
        for folder in ["/tmp", "/work", "/dev/shm", "/dev"]:
            written[folder] = 0
            try:
                for index in range(40):
                    with open(f"{folder}/fill{index}", "wb") as file:
                        file.write(bytes(4 << 20))
                    written[folder] += 4
            except OSError:  # no space left
                pass
        print(json.dumps(written))
        """,
        Limits(wall_s=20, tmp_mb=32),
    )
    assert report(result) == {"/tmp": 32, "/work": 32, "/dev/shm": 32, "/dev": 0}  # MB, then "no space left"


@pytest.mark.skipif(os.geteuid() != 0, reason="slot cgroups are made only when running as root")
def test_many_processes_together_are_capped_by_the_slot_cgroup(sandbox: Sandbox) -> None:
    """Eight children of 300 MiB each stay under the per-process limit but not under the slot's total
    (512 + 3 x 64 MiB): the kernel kills some of them, and the run says so."""
    result = run(
        sandbox,
        """
        import os, time
        children = []
        for _ in range(8):
            pid = os.fork()
            if pid == 0:
                block = bytearray(300 << 20)
                for offset in range(0, len(block), 4096):
                    block[offset] = 1  # touch every page: resident, charged to the cgroup
                time.sleep(2)
                os._exit(0)
            children.append(pid)
        print([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children])
        """,
    )
    assert result.memory_killed
    assert -9 in json.loads(result.stdout.decode())


@pytest.mark.skipif(os.geteuid() != 0, reason="slot cgroups are made only when running as root")
def test_spinning_children_share_one_core(sandbox: Sandbox) -> None:
    """Four busy children for 1.5 s of wall clock get one core's time together (the slot's cpu cgroup), not
    every core of the machine."""
    result = run(
        sandbox,
        """
        import os, resource, time
        started = time.monotonic()
        for _ in range(4):
            if os.fork() == 0:
                while time.monotonic() - started < 1.5:
                    pass
                os._exit(0)
        for _ in range(4):
            os.wait()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        print((used.ru_utime + used.ru_stime) / (time.monotonic() - started))
        """,
    )
    assert float(result.stdout) < 1.3, "CPU seconds per wall second of four spinning processes"


@pytest.mark.skipif(os.geteuid() != 0, reason="slot uids are used only when running as root")
def test_a_busy_slot_sends_the_next_program_to_another_slot_and_uid() -> None:
    two_slots = Sandbox(slots=2, base_uid=1_700_000)
    with hold_slot(2, 1_700_000) as busy:  # as another process running a program would
        seen = report(run(two_slots, "import json, os\nprint(json.dumps([os.getuid(), os.getgid()]))"))
    assert busy.uid is not None and seen == [1_700_000 + (1 - busy.index)] * 2
