"""The samplers a run config can name. A sampler is one module (settings derived from `SamplerSettings`, and a
class built from them that meets the `Sampler` protocol) and one entry here: the run config's `[sampler]` table
takes `kind = "<entry>"` and the settings' own keys, and the run opens it from this table alone.

What a sampler can do beyond `generate` is declared in its entry, so a run never probes the object: `streams`
(it pulls units itself, `StreamingSampler`), `recorded` (it serves recorded completions, not new ones)."""

from dataclasses import dataclass
from typing import Any

from cotfactory.samplers.base import Sampler, SamplerSettings
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.samplers.replay import ReplayConfig, ReplaySampler
from cotfactory.samplers.units import StreamingSampler
from cotfactory.samplers.vllm_offline import VllmOfflineConfig, VllmOfflineSampler


@dataclass(frozen=True)
class SamplerKind:
    """A sampler's settings model and its class, constructed with the validated settings, and what it can do.
    Modules import heavy engines (vLLM) only when the class starts.

    `streams`: the class has `stream(units, done)` and keeps itself fed from the unit queue; otherwise the run
    feeds `generate` batches. `recorded`: its completions are recorded ones (a replay), so one the store already
    holds is the same sample judged again, not a duplicate."""

    settings: type[SamplerSettings]
    sampler: Any  # a class taking `settings`; Any because a Protocol does not type constructors
    streams: bool = False
    recorded: bool = False

    def __post_init__(self) -> None:
        # the declaration is checked once, here, so a wrong entry fails at import, not mid-run
        if not (isinstance(self.settings, type) and issubclass(self.settings, SamplerSettings)):
            raise TypeError(f"{self.settings!r}: a sampler's settings derive from samplers.base.SamplerSettings")
        needed = StreamingSampler if self.streams else Sampler
        if not (isinstance(self.sampler, type) and issubclass(self.sampler, needed)):
            raise TypeError(f"{self.sampler!r} does not meet {needed.__name__} (subclass it for its defaults)")

    def open(self, settings: dict[str, Any]) -> Sampler:
        sampler: Sampler = self.sampler(self.settings(**settings))
        return sampler


SAMPLERS: dict[str, SamplerKind] = {
    "vllm": SamplerKind(VllmOfflineConfig, VllmOfflineSampler, streams=True),
    "openai": SamplerKind(OpenAIHttpConfig, OpenAIHttpSampler, streams=True),
    "replay": SamplerKind(ReplayConfig, ReplaySampler, recorded=True),
}


def kind_of(settings: Any) -> SamplerKind:
    """The registry entry of a run's `[sampler]` settings (they carry `kind`)."""
    return SAMPLERS[settings.kind]
