"""The sampler contract, shaped like `vllm.LLM.generate`: requests (a problem, its params, its round) in, `n`
completions each out. Samplers never see storage rows; what a sampler can do beyond `generate` is declared in its
registry entry (samplers/registry.py), never probed."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.ids import prompt_id_for, xxh3_id
from cotfactory.storage.text import storable

R1_SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."


class RepetitionDetection(BaseModel):
    """vLLM's loop detection in the engine (`RepetitionDetectionParams`, same names): a sequence whose last L tokens
    repeat `min_count` times in a row, for some L in [min_pattern_size, max_pattern_size], ends with finish reason
    `repetition` instead of running on to max_tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_pattern_size: int = Field(ge=1)
    min_pattern_size: int = Field(1, ge=1)
    min_count: int = Field(ge=2)

    @model_validator(mode="after")
    def _sizes_in_order(self) -> "RepetitionDetection":
        if self.min_pattern_size > self.max_pattern_size:
            raise ValueError("repetition_detection: min_pattern_size must be <= max_pattern_size")
        return self


# Measured with benchmarks/repetition_detection.py on real traces and worked solutions (no false stop).
DEFAULT_REPETITION_DETECTION = RepetitionDetection(max_pattern_size=128, min_pattern_size=8, min_count=8)


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
    repetition_detection: RepetitionDetection | None = Field(
        DEFAULT_REPETITION_DETECTION, description="Loops stopped in the engine; false turns it off"
    )

    @field_validator("repetition_detection", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        # `repetition_detection = false` in TOML turns it off; `true` is the default settings
        if value is False:
            return None
        return DEFAULT_REPETITION_DETECTION if value is True else value

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


class StreamWatch(Protocol):
    """What judges one sample while it streams (the chain's `StreamJudge`): fed what arrives, it names the check
    that dooms the sample, if one does; `text` and `tokens` are what it was fed."""

    text: str
    tokens: int

    def feed(self, text: str = "", reasoning: str = "", tokens: int | None = None) -> tuple[str, Any] | None: ...


ABORTED = "aborted:"  # the finish reason of a sample stopped mid-stream: `aborted:<check>`
TARGET_MET = "target_met"  # a sample stopped because its prompt had met its target (`aborted:target_met`)


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """One round of one problem: `params.n` completions of `problem` (the sampler's template makes the messages),
    one request per completion, each seeded from `prompt_id` and the round's params plus its index, so the same
    round of the same prompt reproduces. `watch` makes a judge for each completion's stream (None: none). `settle`
    is told of each completion that ends while others of the round still run; True: the prompt has its target,
    so the sampler stops those others (`aborted:target_met`)."""

    prompt_id: str
    problem: str
    params: SamplingParams
    round: int = 0
    watch: Callable[[bool], StreamWatch | None] | None = field(default=None, compare=False, repr=False)
    settle: Callable[["Completion"], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def seed(self) -> int:
        return self.params.seed_for(self.prompt_id)

    def seed_of(self, index: int) -> int:
        """The seed of completion `index` of the round."""
        return self.seed + index

    def judge(self, opened_by_template: bool) -> StreamWatch | None:
        """A fresh judge for one completion's stream (a retried request starts a new one)."""
        return self.watch(opened_by_template) if self.watch is not None else None


def requests_for(problems: Sequence[str], params: SamplingParams, round: int = 0) -> list[SampleRequest]:
    """A request per problem, under the prompt id a stored prompt of that problem has (and so its seeds)."""
    return [SampleRequest(prompt_id_for(problem), problem, params, round) for problem in problems]


# A hub name is `org/name`; a local model is written as a path.
LOCAL_MODEL_PREFIXES = ("/", "./", "../", "~")


class SamplerSettings(BaseModel):
    """The base of every sampler's settings: `model` is the name its samples are stored under."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str

    def file_problems(self) -> list[str]:
        """Files the settings name that cannot be read, checked when a run config loads (none by default)."""
        return []

    def fleet(self) -> list[str]:
        """The servers of a fleet these settings send to, which a sharded run splits ([] without a fleet)."""
        return []

    def with_fleet(self, urls: list[str]) -> "SamplerSettings":
        """The same settings sending to `urls`, a share of the fleet."""
        return self


@runtime_checkable
class Sampler(Protocol):
    """Anything that turns requests into completions: one inner list of up to `params.n` per request, in request
    order. A class that subclasses this protocol inherits the defaults of `endpoint_counts` and `close`."""

    def generate(self, requests: Sequence[SampleRequest]) -> list[list[Completion]]: ...

    def endpoint_counts(self) -> dict[str, dict[str, int | str]]:
        """Per server endpoint: requests, sequences, failures, set_aside, last_error; {} without endpoints."""
        return {}

    def close(self) -> None:
        """Release the engine or connections now rather than at interpreter exit (nothing to do by default)."""


class SamplerError(CotfactoryError, RuntimeError):
    """A sampler could not produce completions (server unreachable, bad model); the message names the target."""
