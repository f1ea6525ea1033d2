"""The seccomp filter of the sandbox: syscalls a test program never needs and an escape would, denied with an
errno (not a kill, so the program sees an ordinary error and its verdict says what it tried).

The filter is compiled to BPF by libseccomp's Python binding (Debian `python3-seccomp`), once per process, and
handed to bubblewrap, which installs it just before it starts the program. The binding is taken from this
interpreter when importable, else from the system interpreter `/usr/bin/python3` that the Debian package
serves; the BPF bytes are the same.
"""

import subprocess
import sys
from functools import lru_cache

from cotfactory.filters.checks import CheckSetupError

# Kernel surface for escapes and for spying: tracing, mounts and namespaces, kernel keys and modules, raw
# kernel interfaces (io_uring, bpf, perf), other processes' memory, and the clock and host identity; and the
# host-wide pools a program could exhaust for everyone (AIO contexts; ptys are taken away by the mount table).
DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    # Linux AIO contexts come from one host-wide pool (fs.aio-max-nr): a program must not be able to drain it
    "io_setup", "io_submit",
    "keyctl", "add_key", "request_key",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup", "iopl", "ioperm", "lookup_dcookie",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "personality",
)  # fmt: skip

_COMPILER = """
import errno, socket, sys
import seccomp

denied = sys.argv[1].split(",")
program = seccomp.SyscallFilter(seccomp.ALLOW)
for name in denied:
    program.add_rule(seccomp.ERRNO(errno.EPERM), name)
# Sockets: only AF_UNIX (a pipe between the program's own processes); no network family reaches the kernel.
program.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
# No new user namespace through clone's flag; clone3 passes its flags in memory a filter cannot read, so it
# answers ENOSYS and libc falls back to clone, where the flag is visible.
program.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, 0x10000000, 0x10000000))
program.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
program.export_bpf(sys.stdout.buffer)
"""

SYSTEM_PYTHON = "/usr/bin/python3"


def _compile_with(python: str) -> bytes:
    try:
        done = subprocess.run(
            [python, "-I", "-c", _COMPILER, ",".join(DENIED_SYSCALLS)], capture_output=True, timeout=60
        )
    except OSError as error:
        raise CheckSetupError(f"cannot compile the sandbox's seccomp filter: {python}: {error}") from error
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        missing = any("No module named 'seccomp'" in line for line in message)
        hint = " (install libseccomp's Python binding: apt install python3-seccomp)" if missing else ""
        raise CheckSetupError(
            f"cannot compile the sandbox's seccomp filter with {python}{hint}: {message[-1] if message else ''}"
        )
    return done.stdout


@lru_cache(maxsize=1)
def seccomp_bpf() -> bytes:
    """The compiled filter (a few hundred bytes of BPF); CheckSetupError naming what to install if it cannot."""
    try:
        import seccomp  # noqa: F401  # the binding in this interpreter, if the user installed one
    except ImportError:
        return _compile_with(SYSTEM_PYTHON)
    return _compile_with(sys.executable)
