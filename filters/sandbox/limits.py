"""Resource limits of one sandboxed program, applied by `prlimit` (util-linux) to the sandbox's first process
and inherited by everything it starts. A command rather than `preexec_fn`: forking with a Python callback is
unsafe in a process with threads, and checks may run in one."""

import math
from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one program may use. `wall_s` is wall clock for the whole run, start-up included."""

    wall_s: float = 10.0
    cpu_s: float = 10.0
    memory_mb: int = 512  # address space (RLIMIT_AS): allocations past it fail with MemoryError
    processes: int = 64  # RLIMIT_NPROC of the slot's uid: bounds fork bombs
    file_size_mb: int = 16
    open_files: int = 64
    output_bytes: int = MIB  # stdout and stderr together
    tmp_mb: int = 64  # each of the private /tmp, work dir and /dev/shm (memory-backed)
    cpus: float = 1.0  # cores' time all of the program's processes share (the slot's cpu cgroup)

    @property
    def total_memory_bytes(self) -> int:
        """What all of a program's processes may hold together (the slot's cgroup): one address space and the
        three memory-backed folders."""
        return (self.memory_mb + 3 * self.tmp_mb) * MIB

    def prlimit_argv(self, prlimit: str, *, count_processes: bool) -> list[str]:
        """`prlimit` options; the soft and hard limits are equal so the program cannot raise them."""
        options = [
            f"--cpu={max(1, math.ceil(self.cpu_s))}",
            f"--as={self.memory_mb * MIB}",
            f"--fsize={self.file_size_mb * MIB}",
            f"--nofile={self.open_files}",
            "--core=0",
        ]
        if count_processes:
            options.append(f"--nproc={self.processes}")
        return [prlimit, *options, "--"]
