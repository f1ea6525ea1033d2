"""Checks that misbehave, for runner tests; a module of their own so spawned pool workers can import them."""

import ctypes
import dataclasses
import os
import signal

from cotfactory.filters.checks import Sample, Verdict, register


@register("spin_forever", reasons=("verify_timeout",), cost="expensive")
@dataclasses.dataclass(frozen=True)
class SpinForever:
    """A check that never returns (a stand-in for a hang no alarm can stop)."""

    def __call__(self, sample: Sample) -> Verdict:
        while sample.problem:
            pass
        return Verdict(True)


@register("raises", reasons=("check_error",), cost="expensive")
@dataclasses.dataclass(frozen=True)
class Raises:
    """A check with a bug."""

    def __call__(self, sample: Sample) -> Verdict:
        raise KeyError("boom")


@register("even_length", reasons=("odd_length",))
@dataclasses.dataclass(frozen=True)
class EvenLength:
    """Passes about half of random text: a check with both outcomes on a random-weight model's output."""

    def __call__(self, sample: Sample) -> Verdict:
        size = len(sample.completion)
        return Verdict(size % 2 == 0, None if size % 2 == 0 else "odd_length", float(size))


@register("kills_its_worker", reasons=("check_crashed",), cost="expensive")
@dataclasses.dataclass(frozen=True)
class KillsItsWorker:
    """SIGKILLs its own process on samples whose problem says so (the kernel's OOM killer, as a check sees it)."""

    def __call__(self, sample: Sample) -> Verdict:
        if "KILL" in sample.problem:
            os.kill(os.getpid(), signal.SIGKILL)
        return Verdict(True)


@register("segfaults", reasons=("check_crashed",), cost="expensive")
@dataclasses.dataclass(frozen=True)
class Segfaults:
    """Dereferences a null pointer through ctypes on samples whose problem says so (a native library's bug)."""

    def __call__(self, sample: Sample) -> Verdict:
        if "SEGV" in sample.problem:
            ctypes.string_at(0)
        return Verdict(True)


@register("hangs_on_marked", reasons=("verify_timeout",), cost="expensive")
@dataclasses.dataclass(frozen=True)
class HangsOnMarked:
    """Spins forever on samples whose problem says so, passes the others."""

    def __call__(self, sample: Sample) -> Verdict:
        while "HANG" in sample.problem:
            pass
        return Verdict(True)
