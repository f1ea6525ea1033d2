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

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from cotfactory.filters.checks import Sample, failed, passed
from cotfactory.filters.judge import LlmJudge
from cotfactory.filters.near_dup import MinHashParams
from cotfactory.filters.runner import CheckRunner, Decision, build_checks
from cotfactory.flows.config import (
    OpenAISamplerConfig,
    ReplaySamplerConfig,
    RunConfig,
    SamplerConfig,
    VllmSamplerConfig,
)
from cotfactory.flows.decontam import Decontaminator
from cotfactory.flows.dedup import CHECK_NAME as DEDUP_CHECK
from cotfactory.flows.dedup import StoredDedup
from cotfactory.flows.run_state import (
    FunnelRow,
    PromptProgress,
    import_prompt_files,
    is_finished,
    run_funnel,
    run_progress,
    select_prompts,
)
from cotfactory.samplers.base import Completion, Sampler, SamplerError, SamplingParams
from cotfactory.storage import PromptRecord, RoundRecord, RunRecord, SampleRecord, Store, VerdictRecord
from cotfactory.storage.ids import sample_id_for
from cotfactory.storage.store import write_batch

log = logging.getLogger(__name__)

DECONTAM_CHECK = "decontam"


@dataclass
class RunProgress:
    """Where a run stands; handed to the progress callback at the start and after every stored batch."""

    run_id: str
    prompts_total: int
    prompts_finished: int = 0
    round: int = 0
    samples: int = 0
    accepted: int = 0
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
    """What a run did, returned by the flow."""

    run_id: str
    status: str
    progress: RunProgress
    funnel: list[FunnelRow]


ProgressCallback = Callable[[RunProgress], None]


def open_sampler(config: SamplerConfig) -> Sampler:
    """The configured sampler; for vLLM this starts the engine (minutes on big models), once per run."""
    settings = config.model_dump(exclude={"kind"})
    if isinstance(config, VllmSamplerConfig):
        from cotfactory.samplers.vllm_offline import VllmOfflineConfig, VllmOfflineSampler

        return VllmOfflineSampler(VllmOfflineConfig(**settings))
    if isinstance(config, OpenAISamplerConfig):
        from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler

        return OpenAIHttpSampler(OpenAIHttpConfig(**settings))
    if isinstance(config, ReplaySamplerConfig):
        from cotfactory.samplers.replay import ReplayConfig, ReplaySampler

        return ReplaySampler(ReplayConfig(**{k: v for k, v in settings.items() if k != "model"}))
    raise TypeError(f"unknown sampler config {type(config).__name__}")


def open_checks(config: RunConfig) -> CheckRunner:
    """The check runner of a run: its process pool starts once and serves every batch."""
    judge = None
    if config.checking.judge is not None:
        judge_sampler = open_sampler(config.checking.judge.sampler)
        judge = LlmJudge(
            judge_sampler, SamplingParams(n=1, temperature=0.0, max_tokens=config.checking.judge.max_tokens)
        )
    return CheckRunner(
        build_checks(config.checks),
        workers=config.checking.workers,
        timeout_s=config.checking.timeout_s,
        majority_vote=config.checking.majority_vote,
        judge=judge,
    )


def open_dedup(config: RunConfig) -> StoredDedup | None:
    settings = config.dedup
    if not settings.enabled:
        return None
    return StoredDedup(MinHashParams(settings.ngram, settings.bands, settings.rows, threshold=settings.threshold))


@task(name="sample", cache_policy=NO_CACHE)
def sample_batch(sampler: Sampler, prompts: Sequence[PromptRecord], params: SamplingParams) -> list[list[Completion]]:
    """`params.n` completions for each prompt of the batch."""
    results = sampler.generate(prompts, params)
    if len(results) != len(prompts):
        raise SamplerError(f"the sampler returned {len(results)} results for {len(prompts)} prompts")
    return results


@dataclass
class StoredBatch:
    samples: int
    accepted: int
    completion_tokens: int
    accepted_by_prompt: dict[str, int]


def _records(
    run_id: str,
    model: str,
    round_index: int,
    prompts: Sequence[PromptRecord],
    completions: Sequence[Sequence[Completion]],
    checked: Sequence[Sample],
    decisions: Sequence[Decision],
) -> tuple[list[SampleRecord], list[VerdictRecord], list[RoundRecord]]:
    samples, verdicts, rounds = [], [], []
    position = 0
    for prompt, of_prompt in zip(prompts, completions, strict=True):
        accepted = tokens = 0
        for index, completion in enumerate(of_prompt):
            sample, decision = checked[position], decisions[position]
            position += 1
            record = SampleRecord.create(
                prompt_id=prompt.prompt_id,
                model=model,
                completion=completion.text,
                run_id=run_id,
                round=round_index,
                sample_index=index,
                seed=completion.seed,
                reasoning=sample.reasoning,
                answer=sample.answer,
                finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                accepted=decision.accepted,
                reject_reason=decision.reason,
            )
            samples.append(record)
            verdicts.extend(
                VerdictRecord(
                    sample_id=record.sample_id,
                    check_name=name,
                    passed=verdict.passed,
                    score=verdict.score,
                    reason=verdict.reason,
                    detail=verdict.detail,
                )
                for name, verdict in decision.verdicts.items()
            )
            accepted += decision.accepted
            tokens += completion.completion_tokens or completion.request_tokens or 0
        rounds.append(
            RoundRecord(
                run_id=run_id,
                prompt_id=prompt.prompt_id,
                round=round_index,
                samples=len(of_prompt),
                accepted=accepted,
                completion_tokens=tokens,
            )
        )
    return samples, verdicts, rounds


def _decontaminate(
    decontaminator: Decontaminator,
    prompts: Sequence[PromptRecord],
    checked: Sequence[Sample],
    decisions: Sequence[Decision],
) -> None:
    """Samples of a prompt that overlaps a registered benchmark are rejected, naming the shared n-gram."""
    found = {p.prompt_id: decontaminator.find(p.problem) for p in prompts}
    for sample, decision in zip(checked, decisions, strict=True):
        hit = found[sample.prompt_id]
        decision.verdicts[DECONTAM_CHECK] = passed() if hit is None else failed("contaminated", None, str(hit))
        if hit is not None and decision.accepted:
            decision.accepted = False
            decision.reason = "contaminated"


def _deduplicate(
    con: Any, dedup: StoredDedup, model: str, checked: Sequence[Sample], decisions: Sequence[Decision]
) -> None:
    """The accepted samples go through dedup; a duplicate is rejected with the kept sample's id."""
    accepted = [i for i, decision in enumerate(decisions) if decision.accepted]
    ids = [sample_id_for(checked[i].prompt_id, model, checked[i].completion) for i in accepted]
    for index, verdict in zip(accepted, dedup.apply(con, ids, [checked[i].completion for i in accepted]), strict=True):
        decisions[index].verdicts[DEDUP_CHECK] = verdict
        if not verdict.passed:
            decisions[index].accepted = False
            decisions[index].reason = verdict.reason


@task(name="check-and-store", cache_policy=NO_CACHE)
def check_and_store(
    store: Store,
    checker: CheckRunner,
    run_id: str,
    model: str,
    round_index: int,
    prompts: Sequence[PromptRecord],
    completions: Sequence[Sequence[Completion]],
    dedup: StoredDedup | None = None,
    decontaminator: Decontaminator | None = None,
) -> StoredBatch:
    """Check every completion of the batch, then, in one transaction, deduplicate the accepted ones against
    the store and store samples, verdicts and progress."""
    checked = [
        Sample.from_completion(
            prompt.problem,
            completion.text,
            reasoning=completion.reasoning,
            opened_by_template=completion.opened_by_template,
            reference=prompt.reference,
            domain=prompt.domain,
            target_language=prompt.target_language,
            finish_reason=completion.finish_reason,
            completion_tokens=completion.completion_tokens,
            prompt_id=prompt.prompt_id,
        )
        for prompt, of_prompt in zip(prompts, completions, strict=True)
        for completion in of_prompt
    ]
    decisions = checker.run(checked)
    if decontaminator is not None:
        _decontaminate(decontaminator, prompts, checked, decisions)
    with store.transaction(checkpoint_on_close=False) as con:
        if dedup is not None:
            _deduplicate(con, dedup, model, checked, decisions)
        samples, verdicts, rounds = _records(run_id, model, round_index, prompts, completions, checked, decisions)
        write_batch(con, samples, verdicts, rounds)
    by_prompt = {r.prompt_id: r.accepted for r in rounds}
    return StoredBatch(
        samples=sum(r.samples for r in rounds),
        accepted=sum(by_prompt.values()),
        completion_tokens=sum(r.completion_tokens or 0 for r in rounds),
        accepted_by_prompt=by_prompt,
    )


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
    in_flight: tuple[list[PromptRecord], PrefectFuture[StoredBatch]] | None = None
    for batch in _batches(pending, config.batch_size):
        if _stopped(stop):
            break
        completions = sample(sampler, quote(batch), params)
        if in_flight is not None:
            tracker.stored(in_flight[0], in_flight[1].result())
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
        )
        in_flight = (batch, stored)
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
    run_id = _start_run(store, config)
    logger.info("run %s: %d prompts selected (%d newly imported) from %s", run_id, len(prompts), new_prompts, store)
    tracker = Tracker(config, run_id, prompts, on_progress)
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
    progress = tracker.progress
    logger.info("run %s %s: %d samples stored, %d accepted", run_id, status, progress.samples, progress.accepted)
    return RunSummary(run_id, status, progress, funnel)
