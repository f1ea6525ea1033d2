"""The sandbox on machines that lack a part (bubblewrap, user namespaces, the seccomp binding, a Python under
/usr), and what its slots share: the slot bound, memory-backed folders, slot cgroups, busy slots."""

import itertools
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sandbox_probes import report, run

from cotfactory.filters.checks import CheckSetupError
from cotfactory.filters.sandbox import Limits, Sandbox, SandboxUnavailable, seccomp_policy
from cotfactory.filters.sandbox.slots import hold_slot


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
