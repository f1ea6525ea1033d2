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


# Marks that pair up on one line (quotes the check may exempt, inline `$...$` math): a sentence is judged on its
# own only when they are balanced, else with the rest of its paragraph.
_INLINE = (
    (re.compile('"'), None),
    (re.compile(r"(?<!\$)\$(?!\$)"), None),
    (re.compile("“"), re.compile("”")),
    (re.compile("「"), re.compile("」")),
    (re.compile("『"), re.compile("』")),
    (re.compile("«"), re.compile("»")),
)
# The end of a sentence: a full stop (a Latin one only before white space, not in 3.14).
_SENTENCE_END = re.compile(r"[。！？]|[.!?](?=\s)")


def _count(marks: tuple, counts: list[int], text: str) -> bool:
    """Add `text`'s marks to `counts` (openers less closers; a stray closer opens nothing); True when balanced."""
    for kind, (opener, closer) in enumerate(marks):
        opened = counts[kind] + len(opener.findall(text))
        counts[kind] = opened if closer is None else max(0, opened - len(closer.findall(text)))
    return not any(count % 2 if closer is None else count for count, (_, closer) in zip(counts, marks, strict=True))


class FragmentWatch(Watch):
    """A foreign-language fragment in the reasoning stays there. Text is judged by whole sentences, as soon as a
    sentence ends (a slip is stopped there, not at the end of its paragraph), in blocks that hold whole math and
    code spans and whole quotes (which the language check removes or may exempt), so a span never reads as
    words; a span left open past `max_block` characters ends the watch (no abort). The units are cut from the
    text alone, so a stream and its stored prefix are judged alike."""

    def __init__(self, fragments: Callable[[str], list[str]], language: str, max_block: int = 50_000) -> None:
        self.fragments, self.language, self.max_block = fragments, language, max_block
        self.block = ""
        self.spans, self.inline = [0] * len(_SPANS), [0] * len(_INLINE)
        self.given_up = False
        self._fresh = True  # the next unit starts a paragraph
        self._start: int | None = None  # where the paragraph being written starts in the reasoning
        self._upto = self._scanned = 0  # its sentences before `_upto` are judged; no sentence end before `_scanned`

    def partial(self, reasoning: str, start: int) -> Verdict | None:
        if self._start != start:
            self._start = self._upto = self._scanned = start
        for end in _SENTENCE_END.finditer(reasoning, max(self._upto, self._scanned - 1)):
            unit, self._upto = reasoning[self._upto : end.end()], end.end()
            if (verdict := self._take(unit, paragraph_end=False)) is not None:
                return verdict
        self._scanned = len(reasoning)
        return None

    def paragraph(self, text: str) -> Verdict | None:
        rest = text[self._upto - self._start :] if self._start is not None else text
        self._start = None
        units, begin = [], 0
        for end in _SENTENCE_END.finditer(rest):
            units.append(rest[begin : end.end()])
            begin = end.end()
        units.append(rest[begin:])
        for index, unit in enumerate(units):
            if (verdict := self._take(unit, paragraph_end=index == len(units) - 1)) is not None:
                return verdict
        return None

    def _take(self, unit: str, *, paragraph_end: bool) -> Verdict | None:
        if self.given_up:
            return None
        self.block = f"{self.block}\n\n{unit}" if self._fresh and self.block else self.block + unit
        self._fresh = paragraph_end
        spans_closed = _count(_SPANS, self.spans, unit)
        inline_closed = _count(_INLINE, self.inline, unit)
        if not spans_closed or not (inline_closed or paragraph_end):
            self.given_up = len(self.block) > self.max_block
            return None  # a span or a quote is still open: wait for its end
        block, self.block = self.block, ""
        self.inline = [0] * len(_INLINE)  # a quote never crosses a line
        if found := self.fragments(block):
            return failed("language_mixed", None, f"{self.language} reasoning with {found[0][:80]!r}")
        return None
