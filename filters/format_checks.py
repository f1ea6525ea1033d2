"""Format and readability checks: R1 kept only readable samples with closed reasoning and one final answer."""

import re
from dataclasses import dataclass

from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.parse import boxed_contents
from cotfactory.filters.prefix import PromptContext, Watch
from cotfactory.filters.prefix_watches import FenceWatch, LengthWatch, ParagraphLengthWatch, TagWatch

_FENCE = re.compile(r"^\s*```", re.MULTILINE)


@register("think_format", reasons=("unclosed_think", "extra_think_tags"), prefix_reasons=("extra_think_tags",))
@dataclass(frozen=True)
class ThinkFormat:
    """The reasoning must end with a closing tag; stray tags beyond one pair are rejected unless allowed."""

    allow_untagged: bool = False
    max_extra_tags: int = 0

    def __call__(self, sample: Sample) -> Verdict:
        if sample.think == "unclosed" or (sample.think == "untagged" and not self.allow_untagged):
            return failed("unclosed_think", detail=sample.think)
        if sample.extra_tags > self.max_extra_tags:
            return failed("extra_think_tags", float(sample.extra_tags))
        return passed(detail=sample.think)

    def watch(self, context: PromptContext) -> Watch:
        return TagWatch(self.max_extra_tags)


@register("truncated", reasons=("truncated",))
@dataclass(frozen=True)
class Truncated:
    """Generation stopped at max_tokens: the reasoning or the answer is cut off."""

    def __call__(self, sample: Sample) -> Verdict:
        return failed("truncated", detail=sample.finish_reason) if sample.finish_reason == "length" else passed()


@register("non_empty", reasons=("empty_reasoning", "empty_answer"))
@dataclass(frozen=True)
class NonEmpty:
    """Both parts must hold something: a reasoning of some length and an answer after it."""

    min_reasoning_chars: int = 1
    min_answer_chars: int = 1

    def __call__(self, sample: Sample) -> Verdict:
        if sample.think != "untagged" and len(sample.reasoning.strip()) < self.min_reasoning_chars:
            return failed("empty_reasoning", float(len(sample.reasoning.strip())))
        if len(sample.answer.strip()) < self.min_answer_chars:
            return failed("empty_answer", float(len(sample.answer.strip())))
        return passed()


@register("too_long", reasons=("too_long",), prefix_reasons=("too_long",))
@dataclass(frozen=True)
class TooLong:
    """Length outliers: more completion tokens or characters than the limits (None: no limit)."""

    max_tokens: int | None = None
    max_chars: int | None = 200_000

    def __call__(self, sample: Sample) -> Verdict:
        chars = len(sample.completion)
        if self.max_tokens is not None and (sample.completion_tokens or 0) > self.max_tokens:
            return failed("too_long", float(sample.completion_tokens or 0), "tokens")
        if self.max_chars is not None and chars > self.max_chars:
            return failed("too_long", float(chars), "chars")
        return passed(float(chars))

    def watch(self, context: PromptContext) -> Watch:
        return LengthWatch(self.max_tokens, self.max_chars)


@register("long_paragraph", reasons=("long_paragraph",), prefix_reasons=("long_paragraph",))
@dataclass(frozen=True)
class LongParagraph:
    """A wall of text in the reasoning (R1 filtered long paragraphs); score = the longest paragraph in chars."""

    max_chars: int = 3000

    def __call__(self, sample: Sample) -> Verdict:
        longest = max((len(p) for p in re.split(r"\n\s*\n", sample.reasoning)), default=0)
        return passed(float(longest)) if longest <= self.max_chars else failed("long_paragraph", float(longest))

    def watch(self, context: PromptContext) -> Watch:
        return ParagraphLengthWatch(self.max_chars)


@register("code_in_reasoning", reasons=("code_in_reasoning",), prefix_reasons=("code_in_reasoning",))
@dataclass(frozen=True)
class CodeInReasoning:
    """Fenced code blocks in the reasoning of a non-code prompt (R1 filtered code blocks out of math data)."""

    max_blocks: int = 0

    def __call__(self, sample: Sample) -> Verdict:
        if sample.domain == "code":
            return passed()
        blocks = len(_FENCE.findall(sample.reasoning)) // 2
        return passed(float(blocks)) if blocks <= self.max_blocks else failed("code_in_reasoning", float(blocks))

    def watch(self, context: PromptContext) -> Watch | None:
        return None if context.domain == "code" else FenceWatch(self.max_blocks)


@register("multiple_final_answers", reasons=("multiple_final_answers",))
@dataclass(frozen=True)
class MultipleFinalAnswers:
    """Conflicting boxed answers after the reasoning: which one would a student learn?"""

    def __call__(self, sample: Sample) -> Verdict:
        distinct = {" ".join(answer.split()) for answer in boxed_contents(sample.answer)}
        if len(distinct) > 1:
            return failed("multiple_final_answers", float(len(distinct)), " | ".join(sorted(distinct))[:500])
        return passed(float(len(distinct)))
