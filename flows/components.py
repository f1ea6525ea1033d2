"""What a run is built from: its sampler, its check runner and its dedup index, opened from the config."""

from collections.abc import Sequence

from cotfactory.filters.judge import LlmJudge
from cotfactory.filters.near_dup import MinHashParams
from cotfactory.filters.runner import CheckRunner, build_checks, domains_of
from cotfactory.flows.config import (
    OpenAISamplerConfig,
    ReplaySamplerConfig,
    RunConfig,
    SamplerConfig,
    VllmSamplerConfig,
)
from cotfactory.flows.dedup import StoredDedup
from cotfactory.samplers.base import Sampler, SamplingParams
from cotfactory.storage import PromptRecord


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


def open_dedup(config: RunConfig) -> StoredDedup | None:
    settings = config.dedup
    if not settings.enabled:
        return None
    return StoredDedup(MinHashParams(settings.ngram, settings.bands, settings.rows, threshold=settings.threshold))
