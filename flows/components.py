"""What a run is built from, opened from its config: its sampler, its check runner and its chain's batch stages."""

from collections.abc import Sequence
from typing import Any

import duckdb

from cotfactory.filters.judge import LlmJudge
from cotfactory.filters.near_dup import MinHashParams
from cotfactory.filters.runner import CheckRunner, build_checks, domains_of
from cotfactory.flows.config import RunConfig
from cotfactory.flows.decontam import Decontaminator
from cotfactory.flows.dedup import StoredDedup
from cotfactory.flows.stages import BatchStage, DecontamStage, DedupStage
from cotfactory.samplers.base import Sampler, SamplingParams
from cotfactory.samplers.registry import SAMPLERS
from cotfactory.storage import PromptRecord


def open_sampler(config: Any) -> Sampler:
    """The configured sampler (a `[sampler]` table, validated); for vLLM this starts the engine (minutes on big
    models), once per run."""
    return SAMPLERS[config.kind].open(config.model_dump(exclude={"kind"}))


def prepare_checks(config: RunConfig, prompts: Sequence[PromptRecord]) -> None:
    """Fail before a run starts when one of its checks cannot work on this machine for these prompts (the code
    sandbox for code prompts); the error names what is missing."""
    CheckRunner(build_checks(config.checks), workers=0).setup(domains_of(prompts))


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


def open_decontaminator(config: RunConfig, con: duckdb.DuckDBPyConnection) -> Decontaminator | None:
    """The run's registered benchmarks, loaded once per run; an unknown name fails here, before any sampling."""
    return Decontaminator(con, config.decontam) if config.decontam else None


def open_stages(config: RunConfig, sampler: Sampler, decontaminator: Decontaminator | None) -> list[BatchStage]:
    """The chain's stages after the per-sample checks: decontamination, then dedup."""
    stages: list[BatchStage] = []
    if decontaminator is not None:
        stages.append(DecontamStage(decontaminator))
    settings = config.dedup
    if settings.enabled:
        params = MinHashParams(settings.ngram, settings.bands, settings.rows, threshold=settings.threshold)
        # a replay serves recorded completions: one the store holds is the same sample judged again
        rejudging = SAMPLERS[config.sampler.kind].recorded
        stages.append(DedupStage(StoredDedup(params), config.model, rejudging=rejudging))
    return stages
