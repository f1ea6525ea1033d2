"""The sampler contract, shaped like `vllm.LLM.generate`: prompts and one params object in, n completions each out."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from cotfactory.storage import PromptRecord
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.ids import xxh3_id
from cotfactory.storage.text import storable

R1_SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."


class SamplingParams(BaseModel):
    """vLLM's names and meanings; defaults as DeepSeek recommends for R1 (temperature 0.6, top_p 0.95)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(1, ge=1, le=1024)
    temperature: float = Field(0.6, ge=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    max_tokens: int = Field(32768, ge=1)
    seed: int = Field(0, ge=0, description="Base seed; each prompt gets its own seed derived from it.")
    stop: list[str] | None = None
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    repetition_penalty: float = Field(1.0, gt=0.0)

    def seed_for(self, prompt_id: str) -> int:
        """A per-prompt seed: different prompts, and the same prompt under another base seed, never share one."""
        return int(xxh3_id(prompt_id, str(self.seed)), 16) & 0x7FFF_FFFF


class PromptTemplate(BaseModel):
    """How a problem becomes chat messages: an optional system prompt, the problem, an optional suffix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str | None = None
    suffix: str | None = R1_SUFFIX

    def messages(self, problem: str) -> list[dict[str, str]]:
        user = problem if not self.suffix else f"{problem}\n{self.suffix}"
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": user}]


@dataclass(frozen=True, slots=True)
class Completion:
    """One sampled completion; `reasoning` is set when the server returned it apart from the text."""

    text: str
    finish_reason: str | None = None
    reasoning: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seed: int | None = None
    # The rendered prompt ended with <think>, so the text starts inside the reasoning (R1-distill templates).
    opened_by_template: bool = False
    # Completion tokens of the whole request, on the first completion of a request whose per-completion
    # counts are unknown (an OpenAI server's usage with n > 1): enough for throughput figures.
    request_tokens: int | None = None

    def __post_init__(self) -> None:
        # a server's JSON can carry lone surrogates ("\udc80"): escaped here, so ids, checks and the store work
        object.__setattr__(self, "text", storable(self.text))
        if self.reasoning is not None:
            object.__setattr__(self, "reasoning", storable(self.reasoning))


@runtime_checkable
class Sampler(Protocol):
    """Anything that turns prompts into completions: one inner list of `params.n` per prompt, in prompt order."""

    def generate(self, prompts: Sequence[PromptRecord], params: SamplingParams) -> list[list[Completion]]: ...


class SamplerError(CotfactoryError, RuntimeError):
    """A sampler could not produce completions (server unreachable, bad model); the message names the target."""
