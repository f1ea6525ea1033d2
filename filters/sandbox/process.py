"""Running one sandboxed command: input from memory, output captured up to a cap, a wall-clock deadline, and
a kill of the whole process group when either is passed."""

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessResult:
    """How a program ended and what it wrote (each stream cut at the cap)."""

    returncode: int | None  # negative: killed by that signal; None: killed by us (timed_out or output_exceeded)
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool = False
    output_exceeded: bool = False
    memory_killed: bool = False  # the kernel killed a process at the slot cgroup's memory cap

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


def memory_file(content: bytes, name: str = "input") -> int:
    """An anonymous in-memory file holding `content`, positioned at its start (read by bwrap or as stdin)."""
    fd = os.memfd_create(name, 0)  # no MFD_CLOEXEC: the child inherits it through pass_fds
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_capped(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    timeout_s: float,
    max_output_bytes: int,
    pass_fds: Sequence[int] = (),
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    user: int | None = None,
) -> ProcessResult:
    """Run `argv` in a new session (its own process group). Stdout and stderr together may hold
    `max_output_bytes`; past it, or past `timeout_s` of wall clock, the group is killed."""
    input_fd = memory_file(stdin, "stdin")
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=input_fd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
            env=env if env is not None else {},
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
    finally:
        os.close(input_fd)
    captured = {"stdout": bytearray(), "stderr": bytearray()}
    timed_out = exceeded = False
    deadline = started + timeout_s
    assert process.stdout is not None and process.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(process.stderr, selectors.EVENT_READ, "stderr")
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                captured[key.data] += chunk
                if len(captured["stdout"]) + len(captured["stderr"]) > max_output_bytes:
                    exceeded = True
                    break
            if exceeded:
                break
    if timed_out or exceeded:
        _kill_group(process)
        returncode: int | None = process.wait()
    else:
        try:
            returncode = process.wait(timeout=max(0.0, deadline - time.monotonic()) + 0.05)
        except subprocess.TimeoutExpired:  # it closed its streams but runs on: the deadline holds all the same
            timed_out = True
            _kill_group(process)
            returncode = process.wait()
    _kill_group(process)  # anything the program left in its group
    process.stdout.close()
    process.stderr.close()
    return ProcessResult(
        None if timed_out or exceeded else returncode,
        bytes(captured["stdout"][:max_output_bytes]),
        bytes(captured["stderr"][:max_output_bytes]),
        time.monotonic() - started,
        timed_out,
        exceeded,
    )
