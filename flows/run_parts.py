"""What a run is built from, opened from its config alone: its sampler and its chain."""

from collections.abc import Sequence
from typing import Any

import duckdb

from cotfactory.filters.chain import Chain, Step
from cotfactory.filters.decontam import Decontaminator, DecontamStep
from cotfactory.filters.dedup import DedupStep, StoredDedup
from cotfactory.filters.judge import LlmJudge
from cotfactory.filters.judge_step import JudgeStep
from cotfactory.filters.majority import MajorityVote
from cotfactory.filters.near_dup import MinHashParams
from cotfactory.filters.prefix import PromptContext
from cotfactory.filters.runner import build_entries
from cotfactory.flows.config import RunConfig
from cotfactory.samplers.base import Sampler, SamplingParams
from cotfactory.samplers.registry import SAMPLERS


def open_sampler(config: Any) -> Sampler:
    """The configured sampler (a `[sampler]` table, validated); for vLLM this starts the engine (minutes on big
    models), once per run."""
    return SAMPLERS[config.kind].open(config.model_dump(exclude={"kind"}))


def replays(config: RunConfig) -> bool:
    """Whether the run's sampler serves recorded completions: then one the store holds is the same sample judged
    again, not a duplicate of it."""
    return SAMPLERS[config.sampler.kind].recorded


def chain_steps(config: RunConfig, con: duckdb.DuckDBPyConnection | None, listed: Sequence[Step]) -> list[Step]:
    """The run's steps after its per-sample checks, in chain order: the vote (it sets references before the
    checks), the judge, the steps the `checks` list names, decontamination (the store's registered benchmarks,
    read now; left out without a store) and dedup. `listed`: the group steps the `checks` list names."""
    steps: list[Step] = []
    if config.checking.majority_vote:
        steps.append(MajorityVote())
    if (judge := config.checking.judge) is not None:
        params = SamplingParams(n=1, temperature=0.0, max_tokens=judge.max_tokens)
        steps.append(JudgeStep(LlmJudge(open_sampler(judge.sampler), params)))
    steps.extend(step for step in listed if not step.needs_store)
    if config.decontam and con is not None:
        steps.append(DecontamStep(Decontaminator(con, config.decontam)))
    steps.extend(step for step in listed if step.needs_store)
    if config.dedup.enabled:
        settings = config.dedup
        params = MinHashParams(settings.ngram, settings.bands, settings.rows, threshold=settings.threshold)
        steps.append(DedupStep(StoredDedup(params)))
    return steps


def stream_watch(config: RunConfig, chain: Chain) -> Any:
    """Per prompt, what makes the judge of each of its streams: the chain's prefix-monotone checks (None when the
    run keeps doomed samples to their end, `[checking] abort_doomed = false`, or nothing is watched)."""
    if not config.checking.abort_doomed or not chain.watching:
        return None

    def watch_for(prompt: Any) -> Any:
        context = PromptContext(prompt.problem, prompt.domain, prompt.target_language)
        return lambda opened_by_template: chain.stream_judge(context, opened_by_template=opened_by_template)

    return watch_for


def open_chain(
    config: RunConfig, con: duckdb.DuckDBPyConnection | None, *, workers: int | None = None, all_checks: bool = False
) -> Chain:
    """The run's chain, built once: its check workers start once and serve every group. An unknown benchmark
    fails here, before any sampling. `all_checks`: every check on every sample (an audit's option)."""
    checks, listed = build_entries(config.checks)  # each entry built once
    return Chain(
        checks,
        chain_steps(config, con, listed),
        workers=config.checking.workers if workers is None else workers,
        timeout_s=config.checking.timeout_s,
        all_checks=all_checks,
    )
