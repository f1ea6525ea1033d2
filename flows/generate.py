"""The generate flow: R1's rejection-sampling stage. Prompts still short of their target are sampled in
batches, every sample is checked and stored with its verdicts, and the next round samples again only the
prompts that are still short, until each has its target or its rounds are used up.

Sampling of batch k+1 overlaps the checking and storing of batch k, so the engine does not wait for the CPU.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from cotfactory.filters.runner import CheckRunner
from cotfactory.flows.batch import StoredBatch, check_and_store, replays, sample_batch
from cotfactory.flows.components import open_checks, open_dedup, open_sampler, prepare_checks
from cotfactory.flows.config import (
    RunConfig,
)
from cotfactory.flows.decontam import Decontaminator
from cotfactory.flows.run_state import (
    FunnelRow,
    PromptProgress,
    import_prompt_files,
    is_finished,
    run_funnel,
    run_progress,
    run_totals,
    select_prompts,
)
from cotfactory.samplers.base import Sampler
from cotfactory.storage import PromptRecord, RunRecord, Store

log = logging.getLogger(__name__)


@dataclass
class RunProgress:
    """Where a run stands; handed to the progress callback at the start and after every stored batch. `samples`
    and `accepted` are what the store holds for the run (earlier invocations included); `stored_now` is what this
    invocation stored."""

    run_id: str
    prompts_total: int
    prompts_finished: int = 0
    round: int = 0
    samples: int = 0
    accepted: int = 0
    stored_now: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def pass_rate(self) -> float:
        return self.accepted / self.samples if self.samples else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / max(1e-9, time.monotonic() - self.started)


@dataclass
class RunSummary:
    """What a run did, returned by the flow; the funnel is read from the store after the run."""

    run_id: str
    status: str
    progress: RunProgress
    funnel: list[FunnelRow]

    @property
    def samples(self) -> int:
        """Every sample the store holds for the run."""
        return sum(row.samples for row in self.funnel)

    @property
    def accepted(self) -> int:
        return sum(row.samples for row in self.funnel if row.reason == "accepted")


ProgressCallback = Callable[[RunProgress], None]


def _batches(prompts: Sequence[PromptRecord], size: int) -> list[list[PromptRecord]]:
    return [list(prompts[start : start + size]) for start in range(0, len(prompts), size)]


def _start_run(store: Store, config: RunConfig) -> str:
    run_id = config.run_id()
    sampling = config.sampling.model_dump(mode="json") | {
        "samples_per_round": config.samples_per_round,
        "target_accepted": config.target_accepted,
        "max_rounds": config.max_rounds,
    }
    store.start_run(
        RunRecord(
            run_id=run_id,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
            model=config.model,
            sampler=config.sampler.model_dump(mode="json"),
            sampling=sampling,
            checks=config.checks,
            config=config.as_json(),
        )
    )
    return run_id


def _funnel_artifact(run_id: str, funnel: list[FunnelRow]) -> None:
    table = [
        {"check": row.check_name, "reason": row.reason, "samples": row.samples, "share": round(row.share, 4)}
        for row in funnel
    ]
    create_table_artifact(key=f"funnel-{run_id}", table=table, description=f"Outcome of every sample of run {run_id}")


class Tracker:
    """Each prompt's progress in the run, kept current as batches are stored, and the totals shown to users."""

    def __init__(
        self, config: RunConfig, run_id: str, prompts: Sequence[PromptRecord], on_progress: ProgressCallback | None
    ) -> None:
        self.config = config
        self.prompts = prompts
        self.state: dict[str, PromptProgress] = {}
        self.progress = RunProgress(run_id, len(prompts))
        self.on_progress = on_progress

    def of(self, prompt: PromptRecord) -> PromptProgress:
        return self.state.get(prompt.prompt_id, PromptProgress())

    def start_round(self, round_index: int, state: dict[str, PromptProgress]) -> list[PromptRecord]:
        """The prompts this round samples: those that have done every earlier round and are still short."""
        self.state = state
        self.progress.round = round_index
        self.progress.prompts_finished = sum(is_finished(self.of(p), self.config) for p in self.prompts)
        self._report()
        return [
            p
            for p in self.prompts
            if self.of(p).rounds_done == round_index and not is_finished(self.of(p), self.config)
        ]

    def stored(self, batch: Sequence[PromptRecord], stored: StoredBatch) -> None:
        self.progress.samples += stored.samples
        self.progress.stored_now += stored.samples
        self.progress.accepted += stored.accepted
        self.progress.completion_tokens += stored.completion_tokens
        for prompt in batch:
            before = self.of(prompt)
            after = PromptProgress(
                before.rounds_done + 1, before.accepted + stored.accepted_by_prompt[prompt.prompt_id]
            )
            self.state[prompt.prompt_id] = after
            self.progress.prompts_finished += is_finished(after, self.config) and not is_finished(before, self.config)
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def sample_round(
    config: RunConfig,
    store: Store,
    sampler: Sampler,
    checker: CheckRunner,
    tracker: Tracker,
    round_index: int,
    stop: threading.Event | None,
    decontaminator: Decontaminator | None = None,
) -> None:
    """One round over the prompts still short of their target: while batch k is checked and stored in a
    worker thread, batch k+1 is sampled here."""
    with store.transaction() as con:
        pending = tracker.start_round(round_index, run_progress(con, tracker.progress.run_id))
    if not pending:
        return
    get_run_logger().info("round %d: %d prompts to sample", round_index, len(pending))
    params = config.params_for_round(round_index)
    dedup = open_dedup(config)
    sample = sample_batch.with_options(retries=config.sample_retries, retry_delay_seconds=[2, 10, 30])
    rejudging = replays(sampler)
    in_flight: tuple[list[PromptRecord], PrefectFuture[StoredBatch]] | None = None
    try:
        for batch in _batches(pending, config.batch_size):
            if _stopped(stop):
                break
            completions = sample(sampler, quote(batch), params, round_index)
            if in_flight is not None:
                held, in_flight = in_flight, None
                tracker.stored(held[0], held[1].result())
            stored = check_and_store.submit(
                store,
                checker,
                tracker.progress.run_id,
                config.model,
                round_index,
                quote(batch),
                quote(completions),
                dedup,
                decontaminator,
                rejudging,
            )
            in_flight = (batch, stored)
    finally:
        # Also when sampling failed: the batch being stored is stored before the run is marked failed.
        if in_flight is not None:
            tracker.stored(in_flight[0], in_flight[1].result())


@flow(name="cotfactory-generate", validate_parameters=False)
def generate(
    config: RunConfig | dict[str, Any],
    sampler: Sampler | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Sample, check and store until every selected prompt has `target_accepted` accepted samples or has used
    `max_rounds` rounds. A rerun of the same config continues where the store says the run stands.

    `sampler` replaces the configured one (an engine the caller already holds); `stop`, once set, ends the run
    after the batch in flight is stored.
    """
    config = RunConfig.model_validate(config) if isinstance(config, dict) else config
    logger = get_run_logger()
    store = Store(config.db)
    new_prompts = import_prompt_files(store, config.prompts)
    with store.transaction() as con:
        prompts = select_prompts(con, config.prompts)
        # Loaded once per run; an unknown benchmark name fails here, before any sampling.
        decontaminator = Decontaminator(con, config.decontam) if config.decontam else None
    prepare_checks(config, prompts)
    run_id = _start_run(store, config)
    logger.info("run %s: %d prompts selected (%d newly imported) from %s", run_id, len(prompts), new_prompts, store)
    tracker = Tracker(config, run_id, prompts, on_progress)
    with store.transaction() as con:
        tracker.progress.samples, tracker.progress.accepted = run_totals(con, run_id)
    owned = sampler is None
    status = "failed"
    try:
        with open_checks(config) as checker:
            # The check workers start (seconds) while the engine loads (minutes on big models).
            warming = threading.Thread(target=checker.start, name="check-pool-start", daemon=True)
            warming.start()
            if sampler is None:
                sampler = open_sampler(config.sampler)
            warming.join()
            for round_index in range(config.max_rounds):
                sample_round(config, store, sampler, checker, tracker, round_index, stop, decontaminator)
                if _stopped(stop):
                    break
        status = "cancelled" if _stopped(stop) else "completed"
    finally:
        if owned and sampler is not None and hasattr(sampler, "close"):
            sampler.close()
        store.finish_run(run_id, status)  # type: ignore[arg-type]
    with store.transaction() as con:
        funnel = run_funnel(con, run_id)
    _funnel_artifact(run_id, funnel)
    summary = RunSummary(run_id, status, tracker.progress, funnel)
    logger.info("run %s %s: %d samples in the store, %d accepted", run_id, status, summary.samples, summary.accepted)
    return summary
