"""A stream's text as it grows, kept so that nothing is copied or scanned again per piece: its pieces, and the
think tags in it, found across piece boundaries."""

import re

_TAG = re.compile(r"</?think>", re.IGNORECASE)
TAG_CHARS = 8  # len("</think>"): a tag cut by a piece boundary is found with the next piece


class TagCount:
    """Think tags in a growing text, each counted once: the first opening before any closing, the first
    closing, and how many in all. Only a tag's width of the text before each piece is looked at again."""

    def __init__(self) -> None:
        self.tags = 0
        self.open_span: tuple[int, int] | None = None
        self.close_at: int | None = None
        self._tail = ""
        self._tail_at = 0  # where `_tail` starts in the text

    def scan(self, piece: str) -> None:
        window = self._tail + piece
        for tag in _TAG.finditer(window):
            if tag.end() <= len(self._tail):
                continue  # counted on an earlier feed
            self.tags += 1
            start = self._tail_at + tag.start()
            if tag.group().startswith("</"):
                self.close_at = start if self.close_at is None else self.close_at
            elif self.close_at is None and self.open_span is None:
                self.open_span = (start, start + len(tag.group()))
        keep = window[-TAG_CHARS:]
        self._tail_at += len(window) - len(keep)
        self._tail = keep


class GrowingText:
    """A growing text kept as its pieces: appending never copies what came before."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def add(self, piece: str) -> None:
        self.parts.append(piece)
        self.length += len(piece)

    def joined(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def clear(self) -> None:
        self.parts, self.length = [], 0
