"""Looping, the common failure of long chains of thought: repeated word n-grams and long repeated lines."""

import re
from collections import Counter
from dataclasses import dataclass

from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.prefix import PromptContext, Watch
from cotfactory.filters.prefix_watches import RepeatedLineWatch

_WORD = re.compile(r"\S+")


def repeated_ngram_ratio(text: str, n: int) -> float:
    """Share of word n-grams that occur more than once (0: every n-gram distinct, near 1: one loop)."""
    words = _WORD.findall(text)
    if len(words) < n + 1:
        return 0.0
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    repeated = sum(count for count in grams.values() if count > 1)
    return repeated / (len(words) - n + 1)


def most_repeated_line(text: str, min_chars: int) -> tuple[str, int]:
    """The line of at least `min_chars` said most often verbatim, with its count (the longer line on a tie): any
    such line said too often fails the check, so a longer line said less often never hides it."""
    counts = Counter(line.strip() for line in text.splitlines() if len(line.strip()) >= min_chars)
    return max(counts.items(), key=lambda item: (item[1], len(item[0]), item[0]), default=("", 0))


@register("repetition", reasons=("repetition",), prefix_reasons=("repetition",))
@dataclass(frozen=True)
class Repetition:
    """Rejects looping reasoning: too many repeated word n-grams, or one long line said again and again, or a sample
    the engine stopped as a loop (finish reason `repetition`)."""

    n: int = 10
    max_ratio: float = 0.2
    min_line_chars: int = 80
    max_line_repeats: int = 3

    def __call__(self, sample: Sample) -> Verdict:
        if sample.finish_reason == "repetition":  # the engine's loop detection ended it (repetition_detection)
            return failed("repetition", 1.0, "stopped in the engine by repetition_detection")
        text = f"{sample.reasoning}\n{sample.answer}"
        ratio = repeated_ngram_ratio(text, self.n)
        if ratio > self.max_ratio:
            return failed("repetition", ratio, f"{ratio:.0%} of word {self.n}-grams repeat")
        line, count = most_repeated_line(text, self.min_line_chars)
        if count > self.max_line_repeats:
            return failed("repetition", ratio, f"line repeated {count} times: {line[:200]}")
        return passed(ratio)

    def watch(self, context: PromptContext) -> Watch:
        """Only the repeated-line rule: the n-gram ratio of a prefix can fall again as the text goes on."""
        return RepeatedLineWatch(self.min_line_chars, self.max_line_repeats)
