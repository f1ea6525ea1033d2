"""Work for continuous sampling: (prompt, round) units, handed to a sampler as fast as it takes them.

The run puts a prompt's next round into the queue the moment its last round is stored short of the target,
whatever the other prompts are doing, so there is no batch or round barrier. A sampler whose registry entry says
it `streams` pulls units as it has capacity; any other is fed batches of whatever units wait (`stream_units`).
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from cotfactory.samplers.base import Completion, Sampler, SampleRequest, SamplerError, SamplingParams, StreamWatch

log = logging.getLogger(__name__)


class Prompt(Protocol):
    """What a unit's prompt must tell a sampler: its id (the seed's source) and its problem."""

    @property
    def prompt_id(self) -> str: ...

    @property
    def problem(self) -> str: ...


P = TypeVar("P", bound=Prompt)


@dataclass(frozen=True)
class Unit(Generic[P]):
    """One round of one prompt: the run's own record of the prompt, handed back with the completions, and the
    request a sampler serves (`request`: a sampler reads nothing else)."""

    prompt: P
    round: int
    params: SamplingParams
    # makes the judge of each completion's stream (the chain's prefix-monotone checks for this prompt)
    watch: Callable[[bool], StreamWatch | None] | None = field(default=None, repr=False, compare=False)
    # told of each sample that ends; True once the prompt has its target (`on_target = "abort"`)
    settle: Callable[[Completion], bool] | None = field(default=None, repr=False, compare=False)
    request: SampleRequest = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prompt = self.prompt
        request = SampleRequest(prompt.prompt_id, prompt.problem, self.params, self.round, self.watch, self.settle)
        object.__setattr__(self, "request", request)


Done = Callable[[Unit[Any], list[Completion]], None]


class UnitQueue:
    """Units waiting to be sampled. A unit is outstanding from `put` until the run calls `finished` for it (it is
    stored, and its next round queued if it needs one); `get` blocks while nothing waits but something is
    outstanding, and returns None once the run's work is done or the queue is closed (a failure), or `stop` is
    set (Ctrl-C).

    Backpressure: while `max_unstored` sampled units wait to be stored (`sampled` to `finished`), no new unit is
    handed out, so a sampler faster than checking and storing never piles completions up in memory."""

    def __init__(self, stop: threading.Event | None = None, max_unstored: int | None = None) -> None:
        self._stop = stop
        self._changed = threading.Condition()
        self._waiting: deque[Unit[Any]] = deque()
        self._outstanding = 0
        self._unstored = 0
        self._max_unstored = max_unstored
        self._closed = False

    def put(self, unit: Unit[Any]) -> None:
        with self._changed:
            if self._closed:
                return
            self._waiting.append(unit)
            self._outstanding += 1
            self._changed.notify_all()

    def sampled(self) -> None:
        """One unit's completions are in and wait to be stored."""
        with self._changed:
            self._unstored += 1

    def finished(self) -> None:
        """One outstanding unit is finished: stored, and its next round (if any) put."""
        with self._changed:
            self._outstanding -= 1
            self._unstored = max(0, self._unstored - 1)
            self._changed.notify_all()

    def _held_back(self) -> bool:
        return self._max_unstored is not None and self._unstored >= self._max_unstored

    def close(self) -> None:
        """Hand out no more units; those waiting are dropped (a rerun samples them)."""
        with self._changed:
            self._closed = True
            self._waiting.clear()
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed or (self._stop is not None and self._stop.is_set())

    def get(self) -> Unit[Any] | None:
        with self._changed:
            while True:
                if self.closed:
                    return None
                if self._waiting and not self._held_back():
                    return self._waiting.popleft()
                if self._outstanding == 0:
                    return None
                self._changed.wait()

    def try_get(self) -> Unit[Any] | None:
        """A waiting unit, or None at once when none waits (an engine with work of its own must not block)."""
        with self._changed:
            if self.closed or not self._waiting or self._held_back():
                return None
            return self._waiting.popleft()

    def take(self, most: int) -> list[Unit[Any]]:
        """At least one unit (blocking as `get`), then whatever else waits, up to `most`; [] when done."""
        first = self.get()
        if first is None:
            return []
        taken = [first]
        with self._changed:
            while self._waiting and len(taken) < most and not self.closed and not self._held_back():
                taken.append(self._waiting.popleft())
        return taken


@runtime_checkable
class StreamingSampler(Sampler, Protocol):
    """A sampler that pulls units itself and reports each as soon as its `n` completions are in; its registry
    entry says `streams=True`."""

    def stream(self, units: UnitQueue, done: Done) -> None: ...


RETRY_DELAYS_S = (2.0, 10.0, 30.0)


def stream_units(
    sampler: Sampler, units: UnitQueue, done: Done, *, streams: bool, batch_size: int, retries: int = 0
) -> None:
    """Sample every unit the queue hands out until it is done: natively when the sampler `streams` (as its
    registry entry declares), else in batches of the units that wait (never waiting for a batch to fill), one
    `generate` call per batch, each call tried again up to `retries` times."""
    if streams:
        cast(StreamingSampler, sampler).stream(units, done)
        return
    while batch := units.take(batch_size):
        results = _generate_with_retries(sampler, [unit.request for unit in batch], retries)
        for unit, completions in zip(batch, results, strict=True):
            done(unit, completions)


def _generate_with_retries(sampler: Sampler, requests: list[SampleRequest], retries: int) -> list[list[Completion]]:
    for attempt in range(retries + 1):
        try:
            results = sampler.generate(requests)
        except SamplerError as error:
            if attempt == retries:
                raise
            delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
            log.warning("sampling %d prompts failed (%s); retry %d/%d in %.0fs", len(requests), error, attempt + 1,
                        retries, delay)  # fmt: skip
            time.sleep(delay)
            continue
        if len(results) != len(requests):
            raise SamplerError(f"the sampler returned {len(results)} results for {len(requests)} prompts")
        return results
    raise AssertionError("unreachable")
