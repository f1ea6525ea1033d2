"""A memory cgroup per slot, when the machine lets us make one (root, cgroup v2 or the v1 memory hierarchy).

rlimits bound each process: a program that forks its process limit of children, each filling its address
space limit, could still hold processes x memory. The slot's cgroup caps what all its processes hold
together, memory-backed files in its private folders included; past it the kernel kills a process, which the
cgroup's `oom_kill` counter tells apart from the wall-clock kill.
"""

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class SlotCgroup:
    path: Path
    version: int

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def set_memory(self, limit_bytes: int) -> None:
        if self.version == 2:
            (self.path / "memory.max").write_text(str(limit_bytes))
            if (swap := self.path / "memory.swap.max").exists():
                swap.write_text("0")
        else:
            (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this cgroup for memory, ever."""
        counters = self.path / ("memory.events" if self.version == 2 else "memory.oom_control")
        for line in counters.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
        return 0


def _make(parent: Path, name: str, version: int) -> SlotCgroup:
    folder = parent / name
    folder.mkdir(parents=True, exist_ok=True)
    if version == 2:  # a child gets the memory controller only if its parent hands it down
        (folder.parent / "cgroup.subtree_control").write_text("+memory")
    return SlotCgroup(folder, version)


@lru_cache(maxsize=64)
def slot_cgroup(index: int, base_uid: int) -> SlotCgroup | None:
    """The slot's memory cgroup, made on first use; None (logged once per process) where we cannot make one."""
    if os.geteuid() != 0:
        return None
    name = f"cotfactory-sandbox-{base_uid}"
    unified = CGROUP_ROOT / "cgroup.controllers"
    try:
        if unified.exists() and "memory" in unified.read_text().split():
            _make(CGROUP_ROOT, name, 2)
            return _make(CGROUP_ROOT / name, f"slot-{index}", 2)
        if (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists():
            return _make(CGROUP_ROOT / "memory" / name, f"slot-{index}", 1)
    except OSError as error:
        _warn_once(f"cannot make a memory cgroup for the sandbox ({error})")
        return None
    _warn_once("no writable memory cgroup (v2, or v1 at /sys/fs/cgroup/memory)")
    return None


@lru_cache(maxsize=1)
def _warn_once(why: str) -> None:
    log.warning("%s: each sandboxed process is capped by rlimits, but not all of a program's processes together", why)
