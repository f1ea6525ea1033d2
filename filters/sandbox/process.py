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
from typing import Protocol

from cotfactory.filters.sandbox.namespace_init import NamespaceInit


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


class Conversation(Protocol):
    """A program spoken to while it runs: what to send first, and what to send as its output comes in. The
    program must answer by `deadline` (monotonic seconds; None: only the run's own wall clock applies)."""

    deadline: float | None

    def opening(self) -> bytes: ...

    def heard(self, chunk: bytes) -> bytes | None:
        """Told each piece of stdout; returns what to send next (b"": nothing yet; None: close its stdin)."""
        ...


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
    info_fd: tuple[int, int] | None = None,
    conversation: Conversation | None = None,
) -> ProcessResult:
    """Run `argv` in a new session (its own process group). Stdout and stderr together may hold
    `max_output_bytes`; past it, or past `timeout_s` of wall clock, the group is killed. `info_fd`: the (read,
    write) ends of bubblewrap's info pipe (the caller closes them); the sandbox's pid 1 it names is killed when
    the run ends. `conversation`: stdin is a pipe it writes to as the program's output comes in (`stdin` is
    ignored), and its deadline is kept as the wall clock is."""
    input_fd = memory_file(stdin, "stdin") if conversation is None else subprocess.PIPE
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=input_fd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(*pass_fds, *(info_fd[1:] if info_fd else ())),
            env=env if env is not None else {},
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
    finally:
        if conversation is None:
            os.close(input_fd)
    init = NamespaceInit(info_fd[0], process.pid) if info_fd is not None else None
    captured = {"stdout": bytearray(), "stderr": bytearray()}
    talk = _Talk(process, conversation) if conversation is not None else None
    # Whatever happens while the program runs (an exception in the conversation included), the sandbox ends
    # in the `finally`, killed and reaped, before anything leaves this function.
    try:
        timed_out, exceeded = _pump(process, init, talk, captured, started + timeout_s, max_output_bytes)
        if not (timed_out or exceeded):
            try:
                process.wait(timeout=max(0.0, started + timeout_s - time.monotonic()) + 0.05)
            except subprocess.TimeoutExpired:  # it closed its streams but runs on: the deadline holds all the same
                timed_out = True
    finally:
        returncode = _end(process, init)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
        if talk is not None:
            talk.close()
    return ProcessResult(
        None if timed_out or exceeded else returncode,
        bytes(captured["stdout"][:max_output_bytes]),
        bytes(captured["stderr"][:max_output_bytes]),
        time.monotonic() - started,
        timed_out,
        exceeded,
    )


def _pump(
    process: subprocess.Popen[bytes],
    init: NamespaceInit | None,
    talk: "_Talk | None",
    captured: dict[str, bytearray],
    deadline: float,
    max_output_bytes: int,
) -> tuple[bool, bool]:
    """Read the program's streams (and bubblewrap's info) until they close, the deadline passes or the output
    passes its cap; (timed out, output exceeded)."""
    assert process.stdout is not None and process.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(process.stderr, selectors.EVENT_READ, "stderr")
        if init is not None:
            selector.register(init.info_fd, selectors.EVENT_READ, "info")
        while any(key.data in ("stdout", "stderr") for key in selector.get_map().values()):
            if talk is not None:
                talk.update(selector)
            remaining = min(deadline, talk.deadline if talk is not None else deadline) - time.monotonic()
            if remaining <= 0:
                return True, False
            for key, _ in selector.select(remaining):
                if key.data == "stdin":
                    talk.write()  # type: ignore[union-attr]
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                if key.data == "info":
                    init.feed(chunk)  # type: ignore[union-attr]
                    continue
                captured[key.data] += chunk
                if talk is not None and key.data == "stdout":
                    talk.heard(chunk)
                if len(captured["stdout"]) + len(captured["stderr"]) > max_output_bytes:
                    return False, True
    return False, False


def _end(process: subprocess.Popen[bytes], init: NamespaceInit | None) -> int:
    """End the run: the sandbox's pid 1 first, through its pidfd, while bubblewrap (its parent) is alive to reap
    it; then bubblewrap's process group; then reap what came to this process. When the checker is itself a
    pid 1 (a container without an init), an orphan left unreaped here would hold a process of the slot's uid
    for good."""
    try:
        if init is not None:
            init.read_rest()
            if not init.kill_and_wait():
                raise OSError(f"the sandbox's pid 1 survived SIGKILL for 10 s (monitor {process.pid})")
    finally:
        if init is not None:
            # bubblewrap ends by itself once its child is gone, having reaped it: killed before that, it would leave
            # the child a zombie of the slot's uid for the host's init to reap, whenever that init gets to it
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        _kill_group(process)
        returncode = process.wait()
        _kill_group(process)  # anything the program left in its group
        if init is not None:
            init.reap_and_close()
    return returncode


class _Talk:
    """The writing side of a conversation: bytes wait in a buffer and go out as the pipe takes them, so a
    program that never reads its stdin cannot block the checker."""

    def __init__(self, process: subprocess.Popen[bytes], conversation: Conversation) -> None:
        assert process.stdin is not None
        self.pipe = process.stdin
        os.set_blocking(self.pipe.fileno(), False)
        self.conversation = conversation
        self.outgoing = bytearray(conversation.opening())
        self.closing = False
        self.registered = False

    @property
    def deadline(self) -> float:
        return self.conversation.deadline if self.conversation.deadline is not None else float("inf")

    def heard(self, chunk: bytes) -> None:
        reply = self.conversation.heard(chunk)
        if reply is None:
            self.closing = True
        else:
            self.outgoing += reply

    def update(self, selector: selectors.BaseSelector) -> None:
        if self.pipe.closed:
            return
        if self.closing and not self.outgoing:
            if self.registered:
                selector.unregister(self.pipe)
            self.close()
            return
        if self.outgoing and not self.registered:
            selector.register(self.pipe, selectors.EVENT_WRITE, "stdin")
            self.registered = True
        elif not self.outgoing and self.registered:
            selector.unregister(self.pipe)
            self.registered = False

    def write(self) -> None:
        try:
            sent = os.write(self.pipe.fileno(), self.outgoing[:65536])
        except BlockingIOError:
            return
        except BrokenPipeError:  # the program closed its end: nothing more can reach it
            self.outgoing.clear()
            self.closing = True
            return
        del self.outgoing[:sent]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.close()
