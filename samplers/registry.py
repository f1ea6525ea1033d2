"""The samplers a run config can name. A sampler is one module (a pydantic settings model and a class built
from it that meets the `Sampler` protocol) and one entry here: the run config's `[sampler]` table takes
`kind = "<entry>"` and the settings' own keys, and the run opens it from this table alone."""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cotfactory.samplers.base import Sampler
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.samplers.replay import ReplayConfig, ReplaySampler
from cotfactory.samplers.vllm_offline import VllmOfflineConfig, VllmOfflineSampler


@dataclass(frozen=True)
class SamplerKind:
    """A sampler's settings model (it has a `model` field: the name samples are stored under) and its class,
    constructed with the validated settings. Modules import heavy engines (vLLM) only when the class starts."""

    settings: type[BaseModel]
    sampler: Any  # a class taking `settings`; Any because a Protocol does not type constructors

    def open(self, settings: dict[str, Any]) -> Sampler:
        sampler: Sampler = self.sampler(self.settings(**settings))
        return sampler


SAMPLERS: dict[str, SamplerKind] = {
    "vllm": SamplerKind(VllmOfflineConfig, VllmOfflineSampler),
    "openai": SamplerKind(OpenAIHttpConfig, OpenAIHttpSampler),
    "replay": SamplerKind(ReplayConfig, ReplaySampler),
}
