"""Judging a completion while it is generated: the checks that can only stay failed once a prefix fails them
(prefix-monotone) watch the stream, and the first failure aborts the sample.

The reasoning is cut into paragraphs exactly as the checks cut the whole reasoning (`re.split(r"\\n\\s*\\n")` of
the stripped reasoning): a paragraph is settled once text follows the blank line after it, or the reasoning is
closed. Each settled paragraph is handed once to every watch, the paragraph being written is handed on as it
grows, and watches see the text's length, tokens and stray think tags. A watch that reports a failure is asked to
`confirm` it against the reasoning so far (a watch that finds candidates cheaply confirms them at the cost of a
pass over that text, now and then). The work is linear in the stream's length, whatever its chunking: nothing
is copied or scanned again per piece. The same judge, fed a stored text at once, gives the same first failure:
that is how the chain judges an aborted sample (`prefix_verdicts`), so an audit of the stored prefix reproduces
the decision.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cotfactory.filters.checks import Sample, Verdict
from cotfactory.filters.stream_text import TAG_CHARS, GrowingText, TagCount
from cotfactory.samplers.base import ABORTED

_SEGMENTS = re.compile(r"(\s+)|\S+")  # whitespace runs hold the paragraph breaks (`\n\s*\n`)
_BREAK = re.compile(r"\n\s*\n")


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

    def partial(self, delta: str) -> Verdict | None:
        """The paragraph being written grew by `delta` (its text since the last call; `paragraph` later hands out
        the whole of it)."""
        return None

    def confirm(self, verdict: Verdict, length: int, reasoning: Callable[[], str], closed: bool) -> Verdict | None:
        """A failure this watch reported, held against the reasoning so far (`length` characters; `reasoning()`
        joins them; `closed`: it is whole): the verdict that dooms the sample, or None while it is not certain."""
        return verdict

    def closing(self, reasoning: Callable[[], str]) -> Verdict | None:
        """The reasoning is closed (`reasoning()` is all of it): a failure this watch held back as uncertain."""
        return None


class StreamJudge:
    """The watches of one stream, in chain order. `feed` the text (and the server's separate reasoning) as it
    arrives; the first failure, by chain order among those found in one feed, is kept in `failure`."""

    def __init__(self, watches: Sequence[tuple[str, Watch]], *, opened_by_template: bool = False) -> None:
        self.watches = list(watches)
        # only the watches that look at each kind of news are asked (most pieces bring news to few of them)
        self._growing = [(n, w) for n, w in self.watches if type(w).grown is not Watch.grown]
        self._partial = [(n, w) for n, w in self.watches if type(w).partial is not Watch.partial]
        self.tokens = 0
        self.failure: tuple[str, Verdict] | None = None
        self._opened = opened_by_template
        self._text = GrowingText()
        self._text_tags, self._reasoning_tags = TagCount(), TagCount()
        self._server_split = False
        self._pending: list[str] = []  # the text from `_taken` on, not yet read into the reasoning
        self._taken = 0
        self._open_dropped = False  # the first <think> was read past (it is no part of the reasoning)
        self._reasoning = GrowingText()  # the reasoning as the parse will see it, as far as it is known
        self._paragraph: list[str] = []  # the paragraph being written, without the whitespace that ends it so far
        self._delta: list[str] = []  # what `_paragraph` gained since the watches last saw it
        self._space: list[str] = []  # the whitespace run that ends the reasoning so far: a break if it holds two \n
        self._space_chars = self._newlines = self._first_newline = self._last_newline = 0
        self._closed = False
        self._found: dict[str, Verdict] = {}
        self._verdicts: dict[str, Verdict] = {}

    @property
    def text(self) -> str:
        """The text fed so far."""
        return self._text.joined()

    def feed(self, text: str = "", reasoning: str = "", tokens: int | None = None) -> tuple[str, Verdict] | None:
        """Take what the stream added; `tokens`: the tokens generated so far (None: one more per feed)."""
        if self.failure is not None:
            return self.failure
        self.tokens = tokens if tokens is not None else self.tokens + bool(text or reasoning)
        self._found = {}
        if reasoning:
            self._server_split = True
            self._reasoning_tags.scan(reasoning)
            if not self._closed:
                self._read(reasoning)
                self._show_delta()
        if text:
            self._text.add(text)
            self._text_tags.scan(text)
            if not self._server_split and not self._closed:  # a server's reasoning ends with the stream, unread
                self._pending.append(text)
                self._reasoning_of_text()
        if self._growing:
            growth = Growth(self._text.length, self.tokens, self._extra_tags())
            for name, watch in self._growing:
                if (verdict := watch.grown(growth)) is not None and not verdict.passed:
                    self._found.setdefault(name, verdict)
        if self._found:
            self.failure = next((name, self._found[name]) for name, _ in self.watches if name in self._found)
            self._verdicts = self._found
        return self.failure

    def verdicts(self) -> dict[str, Verdict]:
        """Every watch's verdict on the stream so far: its failure, or passed."""
        return {name: self._verdicts.get(name, Verdict(True)) for name, _ in self.watches}

    def _reasoning_of_text(self) -> None:
        """The reasoning inside the text, as `parse_completion` reads it: everything before the first </think>,
        less the first <think> before it (a preamble before that tag belongs to the reasoning). Without a tag yet
        the text is reasoning only when the chat template opened it; text near the end waits, as a tag may be
        arriving in pieces."""
        tags = self._text_tags
        if not (self._opened or tags.open_span is not None or tags.close_at is not None):
            return  # no reasoning yet: a preamble, or an untagged answer
        end = tags.close_at if tags.close_at is not None else self._text.length - TAG_CHARS
        opening = tags.open_span if not self._open_dropped else None
        if opening is not None and opening[0] < end:
            end = max(end, opening[1])
        if end <= self._taken and tags.close_at is None:
            return
        pending, base = "".join(self._pending), self._taken
        if opening is not None and opening[0] < end:
            self._read(pending[: opening[0] - base])
            self._read(pending[opening[1] - base : end - base])
            self._open_dropped = True
        else:
            self._read(pending[: end - base])
        self._pending = [pending[end - base :]]
        self._taken = end
        if tags.close_at is not None:
            self._close()
        else:
            self._show_delta()

    def _read(self, piece: str) -> None:
        """More reasoning: whitespace runs are held until the text after them says whether they break a paragraph."""
        if not self._reasoning.length:
            piece = piece.lstrip()  # the parse strips the reasoning
            if not piece:
                return
        self._reasoning.add(piece)
        body = piece.rstrip()
        lead = len(body) - len(body.lstrip())
        if body and self._newlines + body.count("\n", 0, lead) < 2 and _BREAK.search(body, lead) is None:
            # no paragraph ends in this piece: the held whitespace and the piece join the paragraph being written
            grown = "".join(self._space) + body if self._space else body
            self._paragraph.append(grown)
            self._delta.append(grown)
            self._space, self._space_chars, self._newlines = [], 0, 0
            if len(body) < len(piece):
                self._hold(piece[len(body) :])
            return
        for segment in _SEGMENTS.finditer(piece):
            if segment.group(1) is not None:
                self._hold(segment.group())
                continue
            space = "".join(self._space)
            if self._newlines >= 2:  # a blank line ended the paragraph: it is settled
                self._paragraph.append(space[: self._first_newline])
                self._delta = []
                self._hand_out("".join(self._paragraph))
                self._paragraph = []
                space = space[self._last_newline + 1 :]
            self._paragraph.append(space + segment.group())
            self._delta.append(space + segment.group())
            self._space, self._space_chars, self._newlines = [], 0, 0

    def _hold(self, run: str) -> None:
        """Whitespace at the end of the reasoning so far, with where its line breaks are."""
        if (first := run.find("\n")) >= 0:
            if not self._newlines:
                self._first_newline = self._space_chars + first
            self._last_newline = self._space_chars + run.rfind("\n")
            self._newlines += run.count("\n")
        self._space.append(run)
        self._space_chars += len(run)

    def _show_delta(self) -> None:
        if not self._delta:
            return
        delta = "".join(self._delta) if len(self._delta) > 1 else self._delta[0]
        self._delta = []
        for name, watch in self._partial:
            if (verdict := watch.partial(delta)) is not None and not verdict.passed:
                self._report(name, watch, verdict)

    def _close(self) -> None:
        """The reasoning is closed: its last paragraph is settled, its trailing whitespace stripped."""
        self._closed = True
        self._delta = []
        if self._paragraph:
            self._hand_out("".join(self._paragraph))
        for name, watch in self.watches:
            verdict = watch.closing(self._reasoning.joined) if name not in self._found else None
            if verdict is not None and not verdict.passed:
                self._found[name] = verdict

    def _hand_out(self, paragraph: str) -> None:
        for name, watch in self.watches:
            if (verdict := watch.paragraph(paragraph)) is not None and not verdict.passed:
                self._report(name, watch, verdict)

    def _report(self, name: str, watch: Watch, verdict: Verdict) -> None:
        if name in self._found:
            return
        confirmed = watch.confirm(verdict, self._reasoning.length, self._reasoning.joined, self._closed)
        if confirmed is not None and not confirmed.passed:
            self._found[name] = confirmed

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
        # one feed, as the stream's last piece may have held the reasoning's end and the text's start together:
        # the first failure by chain order among all found is the one the stream had
        judge.feed(text=sample.completion, reasoning=sample.reasoning, tokens=sample.completion_tokens or 0)
    else:
        judge.feed(text=sample.completion, tokens=sample.completion_tokens or 0)
    return judge.verdicts()
