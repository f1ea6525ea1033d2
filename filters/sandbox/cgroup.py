"""Cgroups per slot, when the machine lets us make them (root, cgroup v2 or v1's memory and cpu hierarchies).

rlimits bound each process: a program that forks its process limit of children, each filling its address
space, could still hold processes x memory, and as many spinning children take as many cores. The slot's
memory cgroup caps what all its processes hold together (memory-backed files in its private folders
included; past it the kernel kills a process, which the cgroup's `oom_kill` counter tells apart from the
wall-clock kill), and its cpu cgroup gives them one core's time together.
"""

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)


class SandboxError(RuntimeError):
    """The sandbox could not end a run cleanly (a process outlived it); the slot is not reused."""


CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


@dataclass(frozen=True)
class SlotCgroup:
    """The folders of one slot: `memory` always; `cpu` when the cpu controller is there (with v2, the same)."""

    memory: Path
    cpu: Path | None
    version: int

    @property
    def procs(self) -> list[Path]:
        """The files a process writes its pid into to join (one per v1 hierarchy)."""
        return [folder / "cgroup.procs" for folder in dict.fromkeys(f for f in (self.memory, self.cpu) if f)]

    def set_limits(self, memory_bytes: int, cpus: float) -> None:
        quota = max(1000, int(cpus * PERIOD_US))
        if self.version == 2:
            (self.memory / "memory.max").write_text(str(memory_bytes))
            if (swap := self.memory / "memory.swap.max").exists():
                swap.write_text("0")
            if self.cpu is not None:
                (self.cpu / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (self.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            if self.cpu is not None:
                (self.cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.cpu / "cpu.cfs_quota_us").write_text(str(quota))

    def pids(self) -> list[int]:
        """The processes in the slot now (the memory hierarchy holds every process of a run)."""
        return [int(line) for line in (self.memory / "cgroup.procs").read_text().split()]

    def empty_out(self, timeout_s: float = 10.0) -> None:
        """Kill every process left in the slot and wait until none is; SandboxError if some survive. Run
        after each program and before the next, so a slot's next run starts from an empty slot."""
        deadline = time.monotonic() + timeout_s
        while pids := self.pids():
            if time.monotonic() > deadline:
                raise SandboxError(f"processes {pids[:10]} of the sandbox slot {self.memory} survive SIGKILL")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)  # a killed process leaves the cgroup when the kernel has torn it down

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this cgroup for memory, ever."""
        counters = self.memory / ("memory.events" if self.version == 2 else "memory.oom_control")
        for line in counters.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
        return 0


def _folder(parent: Path, *names: str) -> Path:
    folder = parent.joinpath(*names)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _unified(name: str, index: int) -> SlotCgroup:
    top = _folder(CGROUP_ROOT, name)
    # A child gets a controller only if its parent hands it down; cpu is optional, memory is not.
    (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory")
    (top / "cgroup.subtree_control").write_text("+memory")
    slot = _folder(top, f"slot-{index}")
    try:
        for folder in (CGROUP_ROOT, top):
            (folder / "cgroup.subtree_control").write_text("+cpu")
        cpu: Path | None = slot
    except OSError:
        cpu = None
    return SlotCgroup(slot, cpu, 2)


def _v1(name: str, index: int) -> SlotCgroup:
    memory = _folder(CGROUP_ROOT / "memory", name, f"slot-{index}")
    has_cpu = (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").exists()
    return SlotCgroup(memory, _folder(CGROUP_ROOT / "cpu", name, f"slot-{index}") if has_cpu else None, 1)


@lru_cache(maxsize=64)
def slot_cgroup(index: int, base_uid: int) -> SlotCgroup | None:
    """The slot's cgroups, made on first use; None (logged once per process) where we cannot make them."""
    if os.geteuid() != 0:
        return None
    name = f"cotfactory-sandbox-{base_uid}"
    unified = CGROUP_ROOT / "cgroup.controllers"
    try:
        if unified.exists() and "memory" in unified.read_text().split():
            return _unified(name, index)
        if (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists():
            return _v1(name, index)
    except OSError as error:
        _warn_once(f"cannot make a cgroup for the sandbox ({error})")
        return None
    _warn_once("no writable memory cgroup (v2, or v1 at /sys/fs/cgroup/memory)")
    return None


@lru_cache(maxsize=1)
def _warn_once(why: str) -> None:
    log.warning("%s: each sandboxed process is capped by rlimits, but not all of a program's processes together", why)
