"""One writer per run per store. A store is opened for one transaction at a time, so nothing in DuckDB keeps two
processes from sampling the same run into it at once (a shard's flow run started again by a late crash
automation while the first one still runs, or the same `cotfactory run` started twice); both would commit the
same rounds, and the one that commits second counts none of its samples as new and samples rounds the first
never needed. The sampling of a run, and the merge of a shard's store, hold an exclusive `flock` on a lock file
beside the store for as long as they read and write it; a second one waits, saying who holds it, then continues
from what the first stored. The kernel releases the lock of a process that dies, even by SIGKILL, so a crashed
writer never blocks its rerun. On a shared filesystem the lock needs working file locks (NFSv4, or Lustre
mounted with `flock`)."""

import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("cotfactory.storage")


def run_lock_path(store: Path, run_id: str) -> Path:
    """The lock file of a run's writer into `store`, beside it."""
    return store.with_name(f"{store.name}.{run_id}.lock")


@contextmanager
def run_writer(store: Path, run_id: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the run's lock on `store` for the block; while another process holds it, wait (told to `on_wait`)."""
    path = run_lock_path(store, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            (on_wait or log.warning)(f"run {run_id} in {store} is being written by {holder}: waiting for it to end")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()} since {stamp} UTC\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
