"""The continuous scheduler of the generate flow: no batch waits for its longest sample and no round for its
last prompt. Work is (prompt, round) units; the sampler takes units as it has capacity, each sampled unit is
checked and stored in small transactions (a group of units, by count or time) that carry its progress record,
and the moment a prompt is stored still short of its target with rounds left, its next round is queued.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cotfactory.filters.chain import Chain
from cotfactory.flows.commit import Committed, commit_units
from cotfactory.flows.config import RunConfig
from cotfactory.flows.endpoint_ledger import EndpointLedger
from cotfactory.flows.run_state import PromptProgress, is_finished
from cotfactory.samplers.base import Completion, Sampler, StreamWatch
from cotfactory.samplers.registry import SAMPLERS
from cotfactory.samplers.units import Unit, UnitQueue, stream_units
from cotfactory.storage import PromptRecord, Store

log = logging.getLogger(__name__)


@dataclass
class RunProgress:
    """Where a run stands; handed to the progress callback at the start and after every stored group. `samples`
    and `accepted` are what the store holds for the run (earlier invocations included); `stored_now` is what this
    invocation stored."""

    run_id: str
    prompts_total: int
    prompts_finished: int = 0
    round: int = 0
    samples: int = 0
    accepted: int = 0
    stored_now: int = 0
    target_met: int = 0  # stopped once their prompt had its target: left out of the pass rate
    completion_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    # per endpoint of an HTTP sampler: requests, sequences, failures, set_aside, last_error
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float:
        judged = self.samples - self.target_met
        return self.accepted / judged if judged > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / max(1e-9, time.monotonic() - self.started)


ProgressCallback = Callable[[RunProgress], None]
# Per prompt: what makes the judge of each of its streams (None: its samples are not watched)
WatchFor = Callable[[PromptRecord], Callable[[bool], StreamWatch | None] | None]
# Per prompt round and its stored accepted count: what is told of each ending sample (on_target = "abort")
SettleFor = Callable[[PromptRecord, int, int], Callable[[Completion], bool]]


class Tracker:
    """Each prompt's progress in the run, kept current as units are stored, and the totals shown to users."""

    def __init__(
        self,
        config: RunConfig,
        progress: RunProgress,
        prompts: Sequence[PromptRecord],
        state: dict[str, PromptProgress],
        on_progress: ProgressCallback | None,
        watch_for: WatchFor | None = None,
        settle_for: SettleFor | None = None,
    ) -> None:
        self.config = config
        self.watch_for, self.settle_for = watch_for, settle_for
        self.prompts = prompts
        self.state = state
        self.progress = progress
        self.on_progress = on_progress
        self.progress.prompts_finished = sum(is_finished(self.of(p), config) for p in prompts)
        self._report()

    def of(self, prompt: PromptRecord) -> PromptProgress:
        return self.state.get(prompt.prompt_id, PromptProgress())

    def unit(self, prompt: PromptRecord, round: int) -> Unit:
        """One round of a prompt, with its round's params and the watch of its streams."""
        watch = self.watch_for(prompt) if self.watch_for is not None else None
        settle = self.settle_for(prompt, round, self.of(prompt).accepted) if self.settle_for is not None else None
        return Unit(prompt, round, self.config.params_for_round(round), watch, settle)

    def first_units(self) -> list[Unit]:
        """The next round of every prompt still short: round 0 on a new run, the missing round on a resume."""
        return [self.unit(p, self.of(p).rounds_done) for p in self.prompts if not is_finished(self.of(p), self.config)]

    def next_rounds(self, units: Sequence[Unit], stored: Committed) -> list[Unit]:
        """Count a committed group in; returns the next rounds of its prompts still short of their target."""
        self.progress.samples += stored.samples
        self.progress.stored_now += stored.samples
        self.progress.accepted += stored.accepted
        self.progress.target_met += stored.target_met
        self.progress.completion_tokens += stored.completion_tokens
        following = []
        for unit in units:
            before = self.of(unit.prompt)
            after = PromptProgress(unit.round + 1, before.accepted + stored.accepted_by_prompt[unit.prompt.prompt_id])
            self.state[unit.prompt.prompt_id] = after
            self.progress.round = max(self.progress.round, unit.round)
            if is_finished(after, self.config):
                self.progress.prompts_finished += not is_finished(before, self.config)
            else:
                following.append(self.unit(unit.prompt, after.rounds_done))
        self._report()
        return following

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)


_END = None  # put on the sampled queue when the sampler thread is done
UNSTORED_BATCHES = 4


def sample_continuously(
    config: RunConfig,
    store: Store,
    sampler: Sampler,
    chain: Chain,
    tracker: Tracker,
    stop: threading.Event | None,
    *,
    rejudging: bool = False,
) -> None:
    """Sample every unit the run needs, checking and storing as units come back, until every prompt has its
    target or its rounds; after `stop` is set, only what is in flight is stored. A sampler failure ends the run
    with that error once what was already sampled is stored."""
    # at most this many sampled units wait for the store: memory stays flat however fast the sampler is
    units = UnitQueue(stop, max_unstored=UNSTORED_BATCHES * config.batch_size)
    for unit in tracker.first_units():
        units.put(unit)
    sampled: queue.Queue[tuple[Unit, list[Completion]] | None] = queue.Queue()
    failures: list[BaseException] = []

    def done(unit: Unit, completions: list[Completion]) -> None:
        units.sampled()  # counted as waiting for the store until the store loop has finished with it
        sampled.put((unit, completions))

    def sample() -> None:
        try:
            stream_units(
                sampler,
                units,
                done,
                streams=SAMPLERS[config.sampler.kind].streams,
                batch_size=config.batch_size,
                retries=config.sample_retries,
            )
        except BaseException as error:  # handed to the flow's thread, which raises it
            failures.append(error)
            units.close()
        finally:
            sampled.put(_END)

    sampler_thread = threading.Thread(target=sample, name="cotfactory-sampler", daemon=True)
    sampler_thread.start()
    ledger = EndpointLedger(tracker.progress.run_id, sampler)
    ended = interrupted = False
    try:
        while not ended:
            group, ended = _next_group(sampled, config.batch_size, config.commit_interval_s)
            if stop is not None and stop.is_set():
                units.close()  # wakes a sampler waiting for work
            if not group:
                continue
            stored = commit_units(
                store,
                chain,
                tracker.progress.run_id,
                config.model,
                [unit for unit, _ in group],
                [completions for _, completions in group],
                rejudging=rejudging,
                on_commit=ledger.write,
            )
            tracker.progress.endpoints = ledger.latest
            for following in tracker.next_rounds([unit for unit, _ in group], stored):
                units.put(following)
            for _ in group:
                units.finished()
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, the samples in flight are lost (a rerun samples them)
        interrupted = True
        units.close()
        raise
    except BaseException:
        units.close()
        raise
    finally:
        if not interrupted:  # after a failure, the requests in flight are answered first
            sampler_thread.join(timeout=None if ended else 60)
    if failures:
        raise failures[0]


def _next_group(
    sampled: "queue.Queue[tuple[Unit, list[Completion]] | None]", most: int, wait_s: float
) -> tuple[list[tuple[Unit, list[Completion]]], bool]:
    """Up to `most` sampled units: the first within `wait_s`, then those already waiting, so a prompt's next round
    is queued as soon as its round is stored (groups grow by themselves while checking and storing are busy); and
    whether the sampler ended."""
    group: list[tuple[Unit, list[Completion]]] = []
    try:
        item = sampled.get(timeout=wait_s)
        while True:
            if item is _END:
                return group, True
            group.append(item)
            if len(group) >= most:
                break
            item = sampled.get_nowait()
    except queue.Empty:
        pass
    return group, False
