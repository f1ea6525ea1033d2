"""What the sandbox leaves when the checker is itself a pid 1 (a container without an init), and what it leaves
when a program's report breaks the checker's reading of it: nothing, as root and as an unprivileged user.

The checker runs in a child process here, as the pid 1 of a new pid namespace (`unshare --pid --fork
--mount-proc`) or as an ordinary process, and as root or as `nobody`."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

# Timed-out programs under a low process limit (the slot's uid may hold 6), then programs that need processes:
# every zombie left unreaped would count against that limit, and the later programs would fail to start.
CHECKER = textwrap.dedent(
    """
    import json, os, sys
    from cotfactory.filters.sandbox import Limits, Sandbox
    from cotfactory.filters.sandbox.seccomp_policy import seccomp_bpf
    seccomp_bpf()
    if sys.argv[1] == "nobody" and os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
    sandbox = Sandbox(slots=1, base_uid=1_800_000)
    # as a user, the process limit counts every process and thread of the user on the machine (others' too):
    # a wider margin on top of those it has now, and the zombie count below tells the leak
    mine = sum(len(os.listdir(f"/proc/{e}/task")) for e in os.listdir("/proc")
               if e.isdigit() and os.stat(f"/proc/{e}").st_uid == os.getuid())
    allowed = 6 if os.geteuid() == 0 else mine + 32
    limits = Limits(wall_s=0.6, cpu_s=2, processes=allowed)
    hang = "import ctypes, os, time\\nif os.fork() == 0:\\n    time.sleep(60)\\n" \\
           "ctypes.CDLL(None).prctl(1, 0)\\ntime.sleep(60)\\n"
    sleepy = "import time\\ntime.sleep(60)\\n"
    timed_out = [sandbox.run({"main.py": (hang if i % 2 else sleepy).encode()}, "main.py", limits=limits).timed_out
                 for i in range(8)]
    forks = "import os\\nkids = []\\nfor _ in range(3):\\n    kids.append(os.fork())\\n" \\
            "    if kids[-1] == 0:\\n        os._exit(0)\\n[os.waitpid(k, 0) for k in kids]\\nprint('ok')\\n"
    later = [sandbox.run({"main.py": forks.encode()}, "main.py", limits=Limits(wall_s=10, processes=allowed)).stdout
             for _ in range(3)]
    zombies = []
    for entry in os.listdir("/proc"):
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split() if entry.isdigit() else []
        except OSError:
            continue
        if fields and fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(entry)
    print(json.dumps({"pid": os.getpid(), "uid": os.getuid(), "timed_out": timed_out,
                      "later": [out.decode() for out in later], "zombies": zombies}))
    """
)


def _checker(as_pid_1: bool, user: str) -> dict:
    prefix = [shutil.which("unshare") or "unshare", "--pid", "--fork", "--mount-proc"] if as_pid_1 else []
    if as_pid_1 and os.geteuid() != 0:
        prefix.insert(1, "--map-root-user")
    done = subprocess.run(
        [*prefix, sys.executable, "-c", CHECKER, user], capture_output=True, text=True, timeout=180,
        env={"HOME": "/tmp", "PATH": os.environ["PATH"]}, cwd="/tmp",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("user", ["self", "nobody"])
@pytest.mark.parametrize("as_pid_1", [True, False], ids=["pid-1", "not-pid-1"])
def test_timed_out_runs_leave_no_zombie_and_later_programs_start(as_pid_1: bool, user: str) -> None:
    if user == "nobody" and os.geteuid() != 0:
        pytest.skip("dropping to nobody needs root; as a user the checker already runs unprivileged")
    seen = _checker(as_pid_1, user)
    assert (seen["pid"] == 1) is as_pid_1
    assert seen["timed_out"] == [True] * 8
    assert seen["later"] == ["ok\n"] * 3  # the slot's uid still has its processes
    assert seen["zombies"] == []
