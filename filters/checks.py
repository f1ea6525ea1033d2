"""The check contract: a check is a callable `Sample -> Verdict`, registered by name, cheap or expensive."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cotfactory.filters.parse import ParsedCompletion, ThinkFormat, parse_completion
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.text import storable

# cheap and expensive checks judge one sample; a "group" step judges a group of them (chain.GroupStep)
Cost = Literal["cheap", "expensive", "group"]


class CheckSetupError(CotfactoryError, RuntimeError):
    """A check cannot work on this machine (a missing optional package); the message says what to install."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one check decided: passed, or a stable snake_case reason; `score` is the measured value behind it."""

    passed: bool
    reason: str | None = None
    score: float | None = None
    detail: str | None = None  # e.g. the extracted answer, the foreign fragment found

    def __post_init__(self) -> None:
        # a detail quotes model-written text or a program's output: stored and printed, so made encodable
        if self.detail is not None:
            object.__setattr__(self, "detail", storable(self.detail))


def passed(score: float | None = None, detail: str | None = None) -> Verdict:
    return Verdict(True, None, score, detail)


def failed(reason: str, score: float | None = None, detail: str | None = None) -> Verdict:
    return Verdict(False, reason, score, detail)


@dataclass(frozen=True, slots=True)
class Sample:
    """Everything a check may look at: the prompt's side and the completion, already split."""

    problem: str
    completion: str
    reasoning: str
    answer: str
    think: ThinkFormat
    extra_tags: int = 0
    reference: str | None = None
    domain: str = "math"
    target_language: str | None = None
    finish_reason: str | None = None
    completion_tokens: int | None = None
    sample_id: str = ""
    prompt_id: str = ""
    round: int = 0
    tests: str | None = None  # code problems: the prompt's CodeTests as JSON
    opened_by_template: bool = False  # the rendered prompt ended with <think>

    @property
    def trace(self) -> str:
        """The whole trace as sampled: the text, with the reasoning before it when the server sent that apart."""
        return f"{self.reasoning}\n\n{self.completion}" if self.think == "server_split" else self.completion

    @classmethod
    def from_completion(
        cls,
        problem: str,
        completion: str,
        *,
        reasoning: str | None = None,
        opened_by_template: bool = False,
        **fields: Any,
    ) -> "Sample":
        """Parse `completion` (with the server's separate reasoning, if any) into a sample for the checks."""
        completion, reasoning = storable(completion), storable(reasoning) if reasoning is not None else None
        parsed: ParsedCompletion = parse_completion(
            completion, reasoning=reasoning, opened_by_template=opened_by_template
        )
        return cls(
            problem=storable(problem),
            completion=completion,
            reasoning=parsed.reasoning,
            answer=parsed.answer,
            think=parsed.think,
            extra_tags=parsed.extra_tags,
            opened_by_template=opened_by_template,
            **fields,
        )


Check = Callable[[Sample], Verdict]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: how to build it from settings, and whether it is cheap enough to run on everything."""

    name: str
    factory: type
    cost: Cost
    reasons: tuple[str, ...]
    # reasons that, once a prefix of the stream earns them, every continuation earns: the check then has
    # `watch(context)` (filters/prefix.py), and only these reasons abort a sample mid-stream
    prefix_reasons: tuple[str, ...] = ()


REGISTRY: dict[str, CheckSpec] = {}


def register(
    name: str, *, reasons: tuple[str, ...], cost: Cost = "cheap", prefix_reasons: tuple[str, ...] = ()
) -> Callable[[type], type]:
    """Class decorator: make a check (a frozen dataclass with settings and `__call__`) known by `name`.
    `prefix_reasons`: the reasons it can give on a prefix of a stream for good (see `CheckSpec`)."""

    def decorate(factory: type) -> type:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        if not set(prefix_reasons) <= set(reasons) or (prefix_reasons and not hasattr(factory, "watch")):
            raise ValueError(f"check {name!r}: prefix_reasons must be among its reasons, with a `watch` method")
        REGISTRY[name] = CheckSpec(name, factory, cost, reasons, prefix_reasons)
        if cost == "group":
            factory.name = name  # type: ignore[attr-defined]  # its verdicts go under its entry's name
        return factory

    return decorate
