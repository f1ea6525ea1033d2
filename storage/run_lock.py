"""One writer per run per store. A store is opened for one transaction at a time, so nothing in DuckDB keeps two
processes from sampling the same run into it at once (a shard's flow run started again by a late crash
automation while the first one still runs, or the same `cotfactory run` started twice); both would commit the
same rounds, and the one that commits second counts none of its samples as new and samples rounds the first
never needed. The sampling of a run, and the seeding, merge and reopening of a shard's store, hold an exclusive
`flock` on a lock file beside the store for as long as they read and write it; a second one waits, saying who
holds it, then continues from what the first stored.

The kernel releases the lock when its holder dies, even by SIGKILL, so a crashed writer never blocks its rerun;
a child forked while it is held (an engine's worker) closes its copy at once, so it cannot keep the lock of a
dead parent. On a shared filesystem the lock needs working file locks (NFSv4, or Lustre mounted with `flock`);
where there are none, or the lock file cannot be made, the work goes on unlocked with a warning."""

import errno
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("cotfactory.storage")

WAIT_POLL_S = 0.5  # how often a waiting writer looks again (and at its stop event)
# No lock to be had here: a missing or read-only directory, a filesystem without locks.
_UNLOCKABLE = {errno.ENOENT, errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP}

_held: set[int] = set()  # the lock files' descriptors this process holds


def _close_held_in_child() -> None:
    for fd in list(_held):
        os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


class WaitStopped(Exception):
    """The writer was told to stop while it waited for the lock."""


def run_lock_path(store: Path, run_id: str) -> Path:
    """The lock file of a run's writer into `store`, beside it."""
    return store.with_name(f"{store.name}.{run_id}.lock")


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        return os.open(path, os.O_RDONLY)  # a read-only directory: a lock file its writer made still works


@contextmanager
def run_writer(
    store: Path,
    run_id: str,
    on_wait: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> Iterator[None]:
    """Hold the run's lock on `store` for the block; while another process holds it, wait (told to `on_wait`)
    until it ends, or raise WaitStopped once `stop` is set."""
    path = run_lock_path(store, run_id)
    try:
        fd = _open(path)
    except OSError as error:
        if error.errno not in _UNLOCKABLE:
            raise
        log.warning("run %s in %s goes on unlocked: cannot make %s (%s)", run_id, store, path, error.strerror)
        yield
        return
    try:
        if not _acquire(fd, path, store, run_id, on_wait, stop):
            yield
            return
        _held.add(fd)
        try:
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()} since {stamp} UTC\n".encode(), 0)
        except OSError:
            pass  # a lock file opened read-only: held all the same, its holder just not named
        yield
    finally:
        _held.discard(fd)
        os.close(fd)  # releases the lock


def _acquire(
    fd: int,
    path: Path,
    store: Path,
    run_id: str,
    on_wait: Callable[[str], None] | None,
    stop: threading.Event | None,
) -> bool:
    """Take the lock, waiting for its holder; False when this filesystem has no locks."""
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        except OSError as error:
            if error.errno not in _UNLOCKABLE:
                raise
            log.warning("run %s in %s goes on unlocked: %s cannot be locked (%s)", run_id, store, path, error.strerror)
            return False
        if not told:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            (on_wait or log.warning)(f"run {run_id} in {store} is being written by {holder}: waiting for it to end")
            told = True
        if stop is not None and stop.wait(WAIT_POLL_S):
            raise WaitStopped(f"stopped while waiting for run {run_id} in {store}")
        if stop is None:
            time.sleep(WAIT_POLL_S)  # polled: a blocking flock would not hear a stop
