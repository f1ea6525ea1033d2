"""Concurrency slots shared by every process on the machine: a slot is a lock file held while a program runs.

When the sandbox runs as root, each slot runs its programs as its own unprivileged uid, so that the kernel's
per-uid process limit (RLIMIT_NPROC) bounds one program's forks, not the sum of all running programs'.
"""

import fcntl
import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_UID = 1_500_000  # far above any login or system account; no passwd entry is needed


@dataclass(frozen=True)
class Slot:
    index: int
    uid: int | None  # None: run as the current (unprivileged) user


def slot_uid(index: int, base_uid: int = DEFAULT_BASE_UID) -> int | None:
    """The uid a slot runs as: its own when we are root, else ours (an unprivileged user can switch to none)."""
    return base_uid + index if os.geteuid() == 0 else None


def _lock_dir(base_uid: int) -> Path:
    folder = Path(tempfile.gettempdir()) / f"cotfactory-sandbox-{os.geteuid()}-{base_uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@contextmanager
def hold_slot(slots: int, base_uid: int = DEFAULT_BASE_UID) -> Iterator[Slot]:
    """A free slot out of `slots`, held until the block ends; waits for one when all are busy."""
    folder = _lock_dir(base_uid)
    order = list(range(slots))
    random.shuffle(order)  # spread waiting processes over the slots
    fds = {index: os.open(folder / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600) for index in order}
    held = None
    try:
        for index in order:
            try:
                fcntl.flock(fds[index], fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = index
                break
            except BlockingIOError:
                continue
        if held is None:  # all busy: queue on one of them (the kernel wakes us when it is released)
            held = order[0]
            fcntl.flock(fds[held], fcntl.LOCK_EX)
        yield Slot(held, slot_uid(held, base_uid))
    finally:
        for fd in fds.values():
            os.close(fd)  # closing releases the lock
