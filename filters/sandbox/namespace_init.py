"""The sandbox's pid 1, seen from outside: found through bubblewrap's `--info-fd` and held by a pidfd."""

import contextlib
import os
import re
import select
import signal


class NamespaceInit:
    """The sandbox's pid 1, seen from outside through bubblewrap's `--info-fd`, held by a pidfd (so a reused pid
    is never signalled). Killing it ends every process of its pid namespace, whatever they did to themselves
    (a cleared parent-death signal, a new session, a double fork): the end of a run is decided out here."""

    def __init__(self, info_read_fd: int, monitor_pid: int) -> None:
        self.info_fd = info_read_fd
        self.monitor_pid = monitor_pid
        self._info = b""
        self.pidfd: int | None = None

    def feed(self, chunk: bytes) -> None:
        """Bytes read from the info pipe; once its JSON is whole, the init process is opened."""
        self._info += chunk
        found = re.search(rb'"child-pid"\s*:\s*(\d+)', self._info)
        if found is None or self.pidfd is not None:
            return
        child = int(found.group(1))
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            pidfd = os.pidfd_open(child)
            # the pid is the monitor's child, and still alive after this check: the pidfd is that process
            if _parent_of(child) == self.monitor_pid and not select.select([pidfd], [], [], 0)[0]:
                self.pidfd = pidfd
            else:
                os.close(pidfd)

    def read_rest(self) -> None:
        """What bubblewrap wrote to the info pipe since the last read, if anything (never blocks)."""
        os.set_blocking(self.info_fd, False)
        with contextlib.suppress(BlockingIOError):
            self.feed(os.read(self.info_fd, 65536))

    def kill_and_wait(self, timeout_s: float = 10.0) -> bool:
        """SIGKILL the namespace's init and wait until it (and with it, every process of the namespace) is
        gone; True when it is."""
        if self.pidfd is None:
            return True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        return bool(select.select([self.pidfd], [], [], timeout_s)[0])

    def reap_and_close(self) -> None:
        """Reap the init if it became this process's child (its parent died first, and this process is the
        init or subreaper of the checker's namespace); others' children are left to them."""
        if self.pidfd is None:  # never opened: it had ended while bubblewrap, its parent, was there to reap it
            return
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG)
        os.close(self.pidfd)
        self.pidfd = None


def _parent_of(pid: int) -> int | None:
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
