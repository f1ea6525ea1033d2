"""Judging a completion while it is generated: the checks that can only stay failed once a prefix fails them
(prefix-monotone) watch the stream, and the first failure aborts the sample.

The stream is cut into settled paragraphs of the reasoning (a paragraph is settled once the blank line after it
has arrived, or the reasoning is closed), each handed once to every watch; watches also see the text's length,
tokens and stray think tags as they grow. So the work is linear in the stream's length, whatever its chunking.
The same judge, fed a stored text at once, gives the same first failure: that is how the chain judges an
aborted sample (`prefix_verdicts`), so an audit of the stored prefix reproduces the decision.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cotfactory.filters.checks import Sample, Verdict
from cotfactory.samplers.base import ABORTED

_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_TAG = re.compile(r"</?think>", re.IGNORECASE)
_TAG_CHARS = 8  # len("</think>"): a tag cut by a chunk boundary is found on the next feed
_BREAK = re.compile(r"\n\s*\n")  # as `re.split` of the long_paragraph check
_NON_SPACE = re.compile(r"\S")


@dataclass(frozen=True)
class PromptContext:
    """What a watch may know about the prompt of the stream it watches."""

    problem: str
    domain: str = "math"
    target_language: str | None = None


@dataclass(frozen=True)
class Growth:
    """The stream's size so far: characters of its text, tokens generated, think tags beyond one pair."""

    chars: int
    tokens: int
    extra_tags: int


class Watch:
    """One prefix-monotone check on one stream: a verdict that fails only when every continuation fails."""

    def paragraph(self, text: str) -> Verdict | None:
        """A settled paragraph of the reasoning; a failed verdict when it dooms the sample."""
        return None

    def grown(self, growth: Growth) -> Verdict | None:
        """The stream grew; a failed verdict when its size dooms the sample."""
        return None

    def partial(self, reasoning: str, start: int) -> Verdict | None:
        """The reasoning so far, whose paragraph from `start` on is still being written (read from where it
        left off: a watch that reads it must stay linear)."""
        return None


class _TagCount:
    """Think tags in a growing text, each counted once: the first opening before any closing, the first
    closing, and how many in all."""

    def __init__(self) -> None:
        self.tags = 0
        self.open_span: tuple[int, int] | None = None
        self.close_at: int | None = None
        self._scanned = 0

    def scan(self, text: str) -> None:
        for tag in _TAG.finditer(text, max(0, self._scanned - _TAG_CHARS)):
            if tag.end() <= self._scanned:
                continue  # counted on an earlier feed
            self.tags += 1
            if tag.group().startswith("</"):
                self.close_at = tag.start() if self.close_at is None else self.close_at
            elif self.close_at is None and self.open_span is None:
                self.open_span = tag.span()
        self._scanned = len(text)


class StreamJudge:
    """The watches of one stream, in chain order. `feed` the text (and the server's separate reasoning) as it
    arrives; the first failure, by chain order among those found in one feed, is kept in `failure`."""

    def __init__(self, watches: Sequence[tuple[str, Watch]], *, opened_by_template: bool = False) -> None:
        self.watches = list(watches)
        self.text = ""
        self.reasoning_text = ""  # the server's separate reasoning (reasoning_content)
        self.tokens = 0
        self.failure: tuple[str, Verdict] | None = None
        self._opened = opened_by_template
        self._text_tags, self._reasoning_tags = _TagCount(), _TagCount()
        self._server_split = False
        self._reasoning = ""  # the reasoning as the parse will see it, as far as it is known
        self._taken = 0  # offset in `text` up to which its reasoning is in `_reasoning`
        self._settled = 0  # paragraphs of `_reasoning` before this offset were handed out
        self._break_from = 0  # no paragraph break starts before this offset of `_reasoning` (but at `_settled`)
        self._closed = False
        self._verdicts: dict[str, Verdict] = {}

    def feed(self, text: str = "", reasoning: str = "", tokens: int | None = None) -> tuple[str, Verdict] | None:
        """Take what the stream added; `tokens`: the tokens generated so far (None: one more per feed)."""
        if self.failure is not None:
            return self.failure
        self.tokens = tokens if tokens is not None else self.tokens + bool(text or reasoning)
        found: dict[str, Verdict] = {}
        if reasoning:
            self._server_split = True
            self.reasoning_text += reasoning
            self._reasoning_tags.scan(self.reasoning_text)
            if not self._closed:
                self._extend(reasoning)
                self._paragraphs(found, final=False)
        if text:
            self.text += text
            self._text_tags.scan(self.text)
            if self._server_split and not self._closed:
                self._paragraphs(found, final=True)  # the answer has begun: the server's reasoning is whole
            elif not self._server_split:
                self._reasoning_of_text(found)
        growth = Growth(len(self.text), self.tokens, self._extra_tags())
        for name, watch in self.watches:
            if (verdict := watch.grown(growth)) is not None and not verdict.passed:
                found.setdefault(name, verdict)
        if found:
            self.failure = next((name, found[name]) for name, _ in self.watches if name in found)
            self._verdicts = found
        return self.failure

    def verdicts(self) -> dict[str, Verdict]:
        """Every watch's verdict on the stream so far: its failure, or passed."""
        return {name: self._verdicts.get(name, Verdict(True)) for name, _ in self.watches}

    def _extend(self, piece: str) -> None:
        if not self._reasoning:
            piece = piece.lstrip()  # the parse strips the reasoning
        self._reasoning += piece

    def _reasoning_of_text(self, found: dict[str, Verdict]) -> None:
        """The reasoning inside the text: after the first <think> (with any preamble before it), or all of it when
        the chat template opened the reasoning, up to the first </think>."""
        if self._closed:
            return
        tags = self._text_tags
        if not self._taken:
            if tags.open_span is not None:
                self._extend(self.text[: tags.open_span[0]])
                self._taken = tags.open_span[1]
            elif not self._opened:
                return  # no reasoning yet: a preamble, or an untagged answer
        end = tags.close_at if tags.close_at is not None else max(self._taken, len(self.text) - _TAG_CHARS)
        if end > self._taken:  # text near the end waits: a closing tag may be arriving in pieces
            self._extend(self.text[self._taken : end])
            self._taken = end
        self._paragraphs(found, final=tags.close_at is not None)

    def _paragraphs(self, found: dict[str, Verdict], *, final: bool) -> None:
        reasoning = self._reasoning
        while (brk := _BREAK.search(reasoning, max(self._settled, self._break_from))) is not None:
            after = _NON_SPACE.search(reasoning, brk.start())
            if after is None and not final:
                self._break_from = brk.start()  # the blank line may grow: the next paragraph's start is unknown
                return
            self._hand_out(reasoning[self._settled : brk.start()], found)
            self._settled = reasoning.rfind("\n", brk.start(), after.start()) + 1 if after else len(reasoning)
        if final:
            if rest := reasoning[self._settled :].rstrip():
                self._hand_out(rest, found)
            self._settled = len(reasoning)
            self._closed = True
            return
        for name, watch in self.watches:
            if (verdict := watch.partial(reasoning, self._settled)) is not None and not verdict.passed:
                found.setdefault(name, verdict)
        # a break found later starts in the whitespace that ends the text now, or after it
        trailing = len(reasoning) - len(reasoning.rstrip())
        newline = reasoning.find("\n", len(reasoning) - trailing)
        self._break_from = newline if newline >= 0 else len(reasoning)

    def _hand_out(self, paragraph: str, found: dict[str, Verdict]) -> None:
        for name, watch in self.watches:
            if (verdict := watch.paragraph(paragraph)) is not None and not verdict.passed:
                found.setdefault(name, verdict)

    def _extra_tags(self) -> int:
        """Think tags beyond the one opening and one closing, as `parse_completion` counts them."""
        tags = self._text_tags
        if self._server_split:
            return tags.tags + self._reasoning_tags.tags
        if tags.close_at is not None:
            return tags.tags - 1 - (tags.open_span is not None)
        return tags.tags - (tags.open_span is not None)


def aborted_by(sample: Sample) -> str | None:
    """The check a sample was aborted by mid-stream (its finish reason `aborted:<check>`), or None."""
    reason = sample.finish_reason or ""
    return reason[len(ABORTED) :] if reason.startswith(ABORTED) else None


def prefix_verdicts(judge: StreamJudge, sample: Sample) -> dict[str, Verdict]:
    """The watches' verdicts on a stored prefix, fed at once as a stream: the decision an aborted sample had."""
    if sample.think == "server_split":
        judge.feed(reasoning=sample.reasoning, tokens=sample.completion_tokens or 0)
        judge.feed(text=sample.completion, tokens=sample.completion_tokens or 0)
    else:
        judge.feed(text=sample.completion, tokens=sample.completion_tokens or 0)
    return judge.verdicts()
