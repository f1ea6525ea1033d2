"""The sandbox for model-written programs: bubblewrap with every namespace unshared, only `/usr` visible (read
only), private memory-backed `/tmp` and work dir, no network, a cleared environment, a seccomp filter, rlimits,
an unprivileged uid and memory and cpu cgroups per concurrent slot (as root), a wall-clock kill and an output
cap.

Programs see `/sandbox/<name>` (read-only copies of the files given) and run in `/work`. The program itself is
the sandbox's pid 1 (`--as-pid-1`): no other process of the sandbox exists whose memory or descriptors it could
tamper with, and the exit status bubblewrap reports is the kernel's. When the run ends, pid 1 is killed from
outside (through `--info-fd` and a pidfd), which ends every process of its pid namespace; as root, the slot's
cgroups are then emptied and checked empty before the slot's next run.
"""

import dataclasses
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cotfactory.filters.checks import CheckSetupError
from cotfactory.filters.sandbox.cgroup import slot_cgroup
from cotfactory.filters.sandbox.limits import Limits
from cotfactory.filters.sandbox.process import Conversation, ProcessResult, memory_file, run_capped
from cotfactory.filters.sandbox.seccomp_policy import seccomp_bpf
from cotfactory.filters.sandbox.slots import DEFAULT_BASE_UID, hold_slot

log = logging.getLogger(__name__)

CODE_DIR = "/sandbox"
WORK_DIR = "/work"
# `sh -c JOIN_CGROUPS "a/cgroup.procs:b/cgroup.procs" command...`: move this shell into each cgroup, then
# become the command (same pid), so the command and all it starts are counted there.
JOIN_CGROUPS = 'IFS=:; for procs in $0; do echo $$ > "$procs" || exit 125; done; exec "$@"'
SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": WORK_DIR, "PYTHONDONTWRITEBYTECODE": "1"}


class SandboxUnavailable(CheckSetupError):
    """The sandbox cannot be built on this machine; the message names the missing piece and the way out."""


PACKAGE_OF = {"bwrap": "bubblewrap", "prlimit": "util-linux", "setpriv": "util-linux"}


def _tool(name: str) -> str:
    """The tool's absolute path on this process's PATH (the sandbox's own PATH is not the place to look)."""
    path = shutil.which(name)
    if path is None:
        raise SandboxUnavailable(
            f"the code sandbox needs `{name}`, which is not on PATH (apt install {PACKAGE_OF[name]}); "
            "on a machine where bubblewrap cannot run, set unsafe_local_exec = true to run programs unsandboxed"
        )
    return path


@lru_cache(maxsize=4)
def _bwrap_help(bwrap: str) -> str:
    done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def _default_slots() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Sandbox:
    """Runs Python programs in isolation. `unsafe_local_exec` runs them as plain processes with only rlimits,
    a timeout and a cleared environment: for machines where bubblewrap cannot work, never chosen silently."""

    python: str = "/usr/bin/python3"
    slots: int = field(default_factory=_default_slots)
    unsafe_local_exec: bool = False
    base_uid: int = DEFAULT_BASE_UID

    def _bwrap_argv(self, limits: Limits, files: Mapping[str, int], seccomp_fd: int, info_fd: int) -> list[str]:
        bwrap = _tool("bwrap")
        # bubblewrap 0.8+ also shuts user namespaces inside; older ones rely on the seccomp filter for that
        nested = ["--disable-userns"] if "--disable-userns" in _bwrap_help(bwrap) else []
        argv = [
            bwrap, "--unshare-all", "--unshare-user", *nested, "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc", "--dev", "/dev", "--as-pid-1", "--info-fd", str(info_fd),
            # no pseudo-terminals: the host's pty pool is shared by every devpts instance
            "--tmpfs", "/dev/pts",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", WORK_DIR,
            # bubblewrap's /dev is an unbounded tmpfs: only its device nodes and a capped /dev/shm stay writable
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
        ]  # fmt: skip
        for name, fd in files.items():
            argv += ["--ro-bind-data", str(fd), f"{CODE_DIR}/{name}"]
        return [*argv, "--remount-ro", "/", "--chdir", WORK_DIR, "--seccomp", str(seccomp_fd), "--"]

    def run(
        self,
        files: Mapping[str, bytes],
        entry: str,
        args: Sequence[str] = (),
        *,
        stdin: bytes = b"",
        limits: Limits,
        conversation: Conversation | None = None,
    ) -> ProcessResult:
        """Run `python -I <code dir>/<entry> args...` with `files` in the code dir; with a `conversation`, its
        stdin is a pipe the conversation writes to as the program's output comes (`stdin` unused)."""
        if self.unsafe_local_exec:
            return self._run_unsafe(files, entry, args, stdin, limits, conversation)
        fds = {name: memory_file(content, name) for name, content in files.items()}
        seccomp_fd = memory_file(seccomp_bpf(), "seccomp")
        info = os.pipe()
        os.set_inheritable(info[1], True)
        try:
            with hold_slot(self.slots, self.base_uid) as slot:
                argv = [
                    *limits.prlimit_argv(_tool("prlimit"), count_processes=True),
                    *self._bwrap_argv(limits, fds, seccomp_fd, info[1]),
                    self.python, "-I", f"{CODE_DIR}/{entry}", *args,
                ]  # fmt: skip
                cgroup = slot_cgroup(slot.index, self.base_uid) if slot.uid is not None else None
                if cgroup is None:
                    return self._capped(argv, stdin, limits, [*fds.values(), seccomp_fd], slot.uid, info, conversation)
                # Join the cgroups as root, then become the slot's uid: every process of the run is in them.
                cgroup.empty_out()  # raises if a process of an earlier run is still there
                cgroup.set_limits(limits.total_memory_bytes, limits.cpus)
                kills = cgroup.oom_kills()
                uid = str(slot.uid)
                procs = ":".join(map(str, cgroup.procs))
                joined = ["/bin/sh", "-c", JOIN_CGROUPS, procs, _tool("setpriv"),
                          "--reuid", uid, "--regid", uid, "--clear-groups", "--", *argv]  # fmt: skip
                try:
                    fds_kept = [*fds.values(), seccomp_fd]
                    result = self._capped(joined, stdin, limits, fds_kept, None, info, conversation)
                finally:
                    cgroup.empty_out()
                return dataclasses.replace(result, memory_killed=cgroup.oom_kills() > kills)
        finally:
            for fd in [*fds.values(), seccomp_fd, *info]:
                os.close(fd)

    def _capped(
        self,
        argv: list[str],
        stdin: bytes,
        limits: Limits,
        fds: list[int],
        user: int | None,
        info: tuple[int, int],
        conversation: Conversation | None,
    ) -> ProcessResult:
        return run_capped(
            argv,
            stdin=stdin,
            timeout_s=limits.wall_s,
            max_output_bytes=limits.output_bytes,
            pass_fds=fds,
            env=SANDBOX_ENV,
            user=user,
            info_fd=info,
            conversation=conversation,
        )

    def _run_unsafe(
        self,
        files: Mapping[str, bytes],
        entry: str,
        args: Sequence[str],
        stdin: bytes,
        limits: Limits,
        conversation: Conversation | None,
    ) -> ProcessResult:
        with tempfile.TemporaryDirectory(prefix="cotfactory-unsafe-") as folder:
            code, work = Path(folder, "code"), Path(folder, "work")
            code.mkdir()
            work.mkdir()
            for name, content in files.items():
                (code / name).write_bytes(content)
            # As root, RLIMIT_NPROC is not enforced; as a user it would count all of that user's processes.
            prlimit = limits.prlimit_argv(_tool("prlimit"), count_processes=False)
            argv = [*prlimit, self.python, "-I", str(code / entry), *args]
            env = {**SANDBOX_ENV, "HOME": str(work)}
            return run_capped(
                argv, stdin=stdin, timeout_s=limits.wall_s, max_output_bytes=limits.output_bytes, env=env, cwd=work,
                conversation=conversation,
            )  # fmt: skip

    def check_available(self) -> None:
        """Build the sandbox once and run a probe in it; SandboxUnavailable names what is missing."""
        if self.unsafe_local_exec:
            log.warning(
                "unsafe_local_exec = true: model-written programs run WITHOUT a sandbox, as plain processes with "
                "this user's rights (only rlimits, a timeout and a cleared environment apply)"
            )
        as_root = ("setpriv",) if os.geteuid() == 0 else ()  # joins the slot's cgroup, then drops to its uid
        for tool in ("prlimit",) if self.unsafe_local_exec else ("prlimit", "bwrap", *as_root):
            _tool(tool)
        if not self.unsafe_local_exec and not Path(self.python).resolve().is_relative_to("/usr"):
            raise SandboxUnavailable(
                f"the sandbox's python {self.python} is not under /usr, the only host folder the sandbox sees; "
                "use the system interpreter (/usr/bin/python3)"
            )
        try:
            probe = self.run({"probe.py": b"print('ok')"}, "probe.py", limits=Limits(wall_s=30))
        except OSError as error:
            raise SandboxUnavailable(f"the code sandbox could not start: {error}") from error
        if probe.returncode != 0 or probe.stdout.strip() != b"ok":
            said = probe.stderr.decode(errors="replace").strip()
            hint = ""
            if "namespace" in said or "uid map" in said or "Operation not permitted" in said:
                hint = (
                    " (user namespaces seem unavailable to unprivileged users: check the sysctls "
                    "user.max_user_namespaces and kernel.unprivileged_userns_clone, or the container's seccomp "
                    "profile; or set unsafe_local_exec = true)"
                )
            raise SandboxUnavailable(f"the code sandbox could not run a probe program: {said or probe}{hint}")
