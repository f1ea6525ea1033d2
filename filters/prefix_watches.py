"""The watches of the prefix-monotone checks: each holds only the part of its check that no continuation can
undo (a settled paragraph stays as it is; counts and lengths only grow). The rest of a check (the language
share, the n-gram ratio, an unclosed reasoning) is judged on the whole sample, never used to abort."""

import re
from collections import Counter
from collections.abc import Callable

from cotfactory.filters.checks import Verdict, failed
from cotfactory.filters.prefix import Growth, Watch

_FENCE = re.compile(r"^\s*```", re.MULTILINE)
# Where `str.splitlines` breaks a line (a \r\n cut between two pieces only adds an empty line)
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


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
    """A paragraph of the reasoning longer than the limit, settled or still being written (it only grows: the
    white space that ends it so far is not counted), is a paragraph of the whole reasoning."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._written = 0

    def partial(self, delta: str) -> Verdict | None:
        self._written += len(delta)
        return failed("long_paragraph", float(self._written)) if self._written > self.max_chars else None

    def paragraph(self, text: str) -> Verdict | None:
        self._written = 0
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
    """A long line said more than `max_repeats` times. A line is whole once a line break follows it in the
    paragraph being written, or its paragraph is settled; lines break where `str.splitlines` breaks them."""

    def __init__(self, min_chars: int, max_repeats: int) -> None:
        self.min_chars, self.max_repeats = min_chars, max_repeats
        self.counts: Counter[str] = Counter()
        self._line: list[str] = []  # the line being written
        self._seen = 0  # characters of the paragraph being written that `partial` brought

    def partial(self, delta: str) -> Verdict | None:
        self._seen += len(delta)
        return self._lines(delta, paragraph_end=False)

    def paragraph(self, text: str) -> Verdict | None:
        rest, self._seen = text[self._seen :], 0
        return self._lines(rest, paragraph_end=True)

    def _lines(self, piece: str, *, paragraph_end: bool) -> Verdict | None:
        verdict = None
        *whole, last = _LINE_BREAK.split(piece)
        for part in whole:
            self._line.append(part)
            verdict = verdict or self._count("".join(self._line))
            self._line = []
        self._line.append(last)
        if paragraph_end:
            verdict = verdict or self._count("".join(self._line))
            self._line = []
        return verdict

    def _count(self, line: str) -> Verdict | None:
        if len(line := line.strip()) < self.min_chars:
            return None
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
    """A foreign-language fragment in the reasoning stays there. Candidates are found cheaply: text is judged by
    whole sentences, as soon as a sentence ends (a slip is stopped there, not at the end of its paragraph), in
    blocks that hold whole math and code spans and whole quotes as far as their marks tell, so a span seldom
    reads as words (a span left open past `max_block` characters ends the watch). A candidate dooms the sample
    only once `certain` finds a fragment in the reasoning so far, read as no continuation can change it (or in
    the whole reasoning, once it is closed). As that reads the whole reasoning, a candidate it does not confirm
    is held against it again only after the reasoning has grown by a quarter, so the watch stays linear; the
    closed reasoning settles the last doubt."""

    def __init__(
        self,
        fragments: Callable[[str], list[str]],
        certain: Callable[[str, bool], list[str]],
        language: str,
        max_block: int = 50_000,
    ) -> None:
        self.fragments, self.certain, self.language, self.max_block = fragments, certain, language, max_block
        self.spans, self.inline = [0] * len(_SPANS), [0] * len(_INLINE)
        self.given_up = False
        self._block: list[str] = []
        self._block_chars = 0
        self._fresh = True  # the next unit starts a paragraph
        self._unit: list[str] = []  # the sentence being written
        self._seen = 0  # characters of the paragraph being written that `partial` brought
        self._lookback = ""  # a full stop that ended the last piece: a sentence end if white space follows
        self._next_confirm = 0
        self._doubted = False  # a candidate was not confirmed yet: the whole reasoning settles it

    def partial(self, delta: str) -> Verdict | None:
        self._seen += len(delta)
        return self._feed(delta, paragraph_end=False)

    def paragraph(self, text: str) -> Verdict | None:
        rest, self._seen = text[self._seen :], 0
        return self._feed(rest, paragraph_end=True)

    def confirm(self, verdict: Verdict, length: int, reasoning: Callable[[], str], closed: bool) -> Verdict | None:
        if length < self._next_confirm and not closed:
            return None
        if found := self.certain(reasoning(), closed):
            return failed("language_mixed", None, f"{self.language} reasoning with {found[0][:80]!r}")
        self._next_confirm = length + max(length // 4, 1024)
        self._doubted = not closed
        return None

    def closing(self, reasoning: Callable[[], str]) -> Verdict | None:
        if not self._doubted:
            return None
        self._doubted = False
        found = self.certain(reasoning(), True)
        return failed("language_mixed", None, f"{self.language} reasoning with {found[0][:80]!r}") if found else None

    def _feed(self, piece: str, *, paragraph_end: bool) -> Verdict | None:
        candidate = None
        window, shift, begin = self._lookback + piece, len(self._lookback), 0
        for end in _SENTENCE_END.finditer(window):
            stop = end.end() - shift
            self._unit.append(piece[begin:stop])
            begin = stop
            unit, self._unit = "".join(self._unit), []
            candidate = candidate or self._take(unit, paragraph_end=False)
        self._unit.append(piece[begin:])
        if piece:
            self._lookback = piece[-1] if piece[-1] in ".!?" else ""
        if paragraph_end:
            unit, self._unit, self._lookback = "".join(self._unit), [], ""
            candidate = candidate or self._take(unit, paragraph_end=True)
        return candidate

    def _take(self, unit: str, *, paragraph_end: bool) -> Verdict | None:
        if self.given_up:
            return None
        if self._fresh and self._block:
            self._block.append("\n\n")
        self._block.append(unit)
        self._block_chars += len(unit)
        self._fresh = paragraph_end
        spans_closed = _count(_SPANS, self.spans, unit)
        inline_closed = _count(_INLINE, self.inline, unit)
        if not spans_closed or not (inline_closed or paragraph_end):
            self.given_up = self._block_chars > self.max_block
            return None  # a span or a quote is still open: wait for its end
        block, self._block, self._block_chars = "".join(self._block), [], 0
        self.inline = [0] * len(_INLINE)  # a quote never crosses a line
        if found := self.fragments(block):
            return failed("language_mixed", None, f"{self.language} reasoning with {found[0][:80]!r}")
        return None
