"""The samples of vLLM's in-process engine as the sampler follows them: each round's completions as they end,
and each running sample's text and tokens so far."""

from dataclasses import dataclass, field
from typing import Any

from cotfactory.samplers.base import Completion, StreamWatch
from cotfactory.samplers.units import Unit


@dataclass
class EngineRound:
    """A unit in the engine: the completions of its samples, as they end."""

    unit: Unit[Any]
    completions: list[Completion | None]


@dataclass
class EngineSample:
    """One sample in the engine: its unit, its index, its prompt and seed; a streamed one (watched by its judge,
    or wanted part way for `settle`) gathers its text and tokens step by step."""

    round: EngineRound
    index: int
    text: str
    seed: int
    judge: StreamWatch | None
    streamed: bool
    tokens: int = 0
    prompt_tokens: int = 0
    pieces: list[str] = field(default_factory=list)

    def take(self, piece: str, tokens: int, prompt_tokens: int) -> None:
        self.pieces.append(piece)
        self.tokens += tokens
        self.prompt_tokens = prompt_tokens or self.prompt_tokens

    def stopped(self, finish_reason: str | None) -> Completion:
        """The sample as far as it got: its text (exactly what its judge was fed) and tokens."""
        return Completion(
            text="".join(self.pieces),
            finish_reason=finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.tokens,
            seed=self.seed,
            opened_by_template=self.text.rstrip().endswith("<think>"),
        )


def finished_completion(text: str, seed: int, output: Any) -> Completion:
    """A finished request's one completion."""
    sample = output.outputs[0]
    return Completion(
        text=sample.text,
        finish_reason=sample.finish_reason,
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=len(sample.token_ids),
        seed=seed,
        opened_by_template=text.rstrip().endswith("<think>"),
    )
