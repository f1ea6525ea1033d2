"""The watches of the prefix-monotone checks: each holds only the part of its check that no continuation can
undo (a settled paragraph stays as it is; counts and lengths only grow). The rest of a check (the language
share, the n-gram ratio, an unclosed reasoning) is judged on the whole sample, never used to abort."""

import re
from collections import Counter
from collections.abc import Callable

from cotfactory.filters.checks import Verdict, failed
from cotfactory.filters.prefix import Growth, Watch

_FENCE = re.compile(r"^\s*```", re.MULTILINE)


class TagWatch(Watch):
    """More think tags than one pair and `allowed` extra ones: more text only adds tags."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed

    def grown(self, growth: Growth) -> Verdict | None:
        if growth.extra_tags > self.allowed:
            return failed("extra_think_tags", float(growth.extra_tags))
        return None


class LengthWatch(Watch):
    """A completion past its token or character limit: it only gets longer."""

    def __init__(self, max_tokens: int | None, max_chars: int | None) -> None:
        self.max_tokens, self.max_chars = max_tokens, max_chars

    def grown(self, growth: Growth) -> Verdict | None:
        if self.max_tokens is not None and growth.tokens > self.max_tokens:
            return failed("too_long", float(growth.tokens), "tokens")
        if self.max_chars is not None and growth.chars > self.max_chars:
            return failed("too_long", float(growth.chars), "chars")
        return None


class ParagraphLengthWatch(Watch):
    """A settled paragraph of the reasoning longer than the limit is a paragraph of the whole reasoning."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    def paragraph(self, text: str) -> Verdict | None:
        return failed("long_paragraph", float(len(text))) if len(text) > self.max_chars else None


class FenceWatch(Watch):
    """Code fences in the reasoning: their count only grows."""

    def __init__(self, max_blocks: int) -> None:
        self.max_blocks = max_blocks
        self.fences = 0

    def paragraph(self, text: str) -> Verdict | None:
        self.fences += len(_FENCE.findall(text))
        blocks = self.fences // 2
        return failed("code_in_reasoning", float(blocks)) if blocks > self.max_blocks else None


class RepeatedLineWatch(Watch):
    """A long line said more than `max_repeats` times: each line of a settled paragraph is a whole line."""

    def __init__(self, min_chars: int, max_repeats: int) -> None:
        self.min_chars, self.max_repeats = min_chars, max_repeats
        self.counts: Counter[str] = Counter()

    def paragraph(self, text: str) -> Verdict | None:
        for line in text.splitlines():
            if len(line := line.strip()) < self.min_chars:
                continue
            self.counts[line] += 1
            if self.counts[line] > self.max_repeats:
                return failed("repetition", None, f"line repeated {self.counts[line]} times: {line[:200]}")
        return None


# Openers and closers of spans the language check removes (math, code), counted to keep a span in one block.
_SPANS = (
    (re.compile(r"```"), None),
    (re.compile(r"\$\$"), None),
    (re.compile(r"\\\("), re.compile(r"\\\)")),
    (re.compile(r"\\\["), re.compile(r"\\\]")),
    (re.compile(r"\\begin\{"), re.compile(r"\\end\{")),
)


class FragmentWatch(Watch):
    """A foreign-language fragment in the reasoning stays there. Paragraphs are judged in blocks that hold whole
    math and code spans (which the language check removes before it counts words), so a span across a blank
    line is never read as words; a span left open past `max_block` characters ends the watch (no abort)."""

    def __init__(self, fragments: Callable[[str], list[str]], language: str, max_block: int = 50_000) -> None:
        self.fragments, self.language, self.max_block = fragments, language, max_block
        self.block = ""
        self.spans = [0] * len(_SPANS)  # per kind: openers less closers (or openers, for self-closing ones)
        self.given_up = False

    def paragraph(self, text: str) -> Verdict | None:
        if self.given_up:
            return None
        self.block = f"{self.block}\n\n{text}" if self.block else text
        for kind, (opener, closer) in enumerate(_SPANS):
            if closer is None:
                self.spans[kind] += len(opener.findall(text))
                continue
            # a stray closer opens nothing: the count stays at 0
            self.spans[kind] = max(0, self.spans[kind] + len(opener.findall(text)) - len(closer.findall(text)))
        if any(count % 2 if closer is None else count for count, (_, closer) in zip(self.spans, _SPANS, strict=True)):
            self.given_up = len(self.block) > self.max_block
            return None  # a span is still open: wait for its end
        block, self.block = self.block, ""
        if found := self.fragments(block):
            return failed("language_mixed", None, f"{self.language} reasoning with {found[0][:80]!r}")
        return None
