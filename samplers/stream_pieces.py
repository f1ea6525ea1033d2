"""A stream's text handed to its judge in pieces cut at fixed places (every `PIECE_CHARS` characters of the
stream: its reasoning and its text in the order they arrive), not as the network happened to deliver it. The
judge then reads the same pieces whatever the reads and the server's events, so an aborted sample keeps the same
prefix, and so the same sample id, every time it is sampled: a rerun or a second run stores it once."""

from collections import deque
from typing import Any

from cotfactory.samplers.base import StreamWatch

# About 8 tokens: the most an abort waits for, against the thousands a doomed sample would still generate.
PIECE_CHARS = 32


class PieceFeed:
    """Feeds `judge` whole pieces of what a stream brought; `fed_text` and `fed_reasoning` count the characters of
    each it was handed (an aborted sample's stored prefix)."""

    def __init__(self, judge: StreamWatch, size: int = PIECE_CHARS) -> None:
        self.judge = judge
        self.size = size
        self.fed_text = self.fed_reasoning = 0
        self._held: deque[tuple[bool, str]] = deque()  # (reasoning?, text) arrived and not yet handed on
        self._offset = 0  # what of the first held part was handed on already
        self._held_chars = 0

    def add(self, text: str, reasoning: str, tokens: int | None) -> tuple[str, Any] | None:
        """Take what an event brought; the judge's failure once a whole piece dooms the sample."""
        for is_reasoning, part in ((True, reasoning), (False, text)):
            if part:
                self._held.append((is_reasoning, part))
                self._held_chars += len(part)
        while self._held_chars >= self.size:
            if failure := self._feed_piece(tokens):
                return failure
        return None

    def _feed_piece(self, tokens: int | None) -> tuple[str, Any] | None:
        """The next `size` characters to the judge, in one feed (its first failure by chain order is then the
        same as when the judge reads the stored prefix at once); text that came before reasoning, a server's odd
        order, is handed on apart to keep the order."""
        wanted, texts, reasonings = self.size, [], []
        failure = None
        while wanted:
            is_reasoning, part = self._held[0]
            taken = part[self._offset : self._offset + wanted]
            if self._offset + len(taken) == len(part):
                self._held.popleft()
                self._offset = 0
            else:
                self._offset += len(taken)
            wanted -= len(taken)
            if is_reasoning and texts:  # reasoning after text within one piece: the text first
                failure = failure or self._hand(texts, [], tokens)
                texts = []
            (reasonings if is_reasoning else texts).append(taken)
        self._held_chars -= self.size
        return failure or self._hand(texts, reasonings, tokens)

    def _hand(self, texts: list[str], reasonings: list[str], tokens: int | None) -> tuple[str, Any] | None:
        text, reasoning = "".join(texts), "".join(reasonings)
        self.fed_text += len(text)
        self.fed_reasoning += len(reasoning)
        return self.judge.feed(text, reasoning, tokens)
