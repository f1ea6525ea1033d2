"""Checks that misbehave, for runner tests; a module of their own so spawned pool workers can import them."""

import dataclasses

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
