"""The part of a reasoning prefix that the language check reads the same way whatever text follows it.

The check removes math, code and URLs with one left-to-right regex scan, money signs before it and quotes it may
exempt after it (language_words.py). Text that follows a prefix can change that reading only through a match the
scan has not finished: a `$$`, `\\(`, `\\[`, fence or `\\begin{env}` with no closer yet, a `$` or a backtick whose
line is still open, a URL or a command running to the end, an amount of money still being written, a quote on
the last line, a word still being written. So the prefix is read up to the first such place, and only what lies
before it counts: a foreign fragment there is a fragment of every continuation. Cost: one pass over the prefix.
"""

import bisect
import re
import unicodedata

from cotfactory.filters.language_words import CURRENCY, QUOTED, STRIP, Classifier, exempt_quotes
from cotfactory.filters.scripts import CHARACTER_SCRIPTS, script_of

# a money sign whose amount may still be arriving: the check's money lookahead is not decided yet
_MONEY_OPEN = re.compile(r"\$\s?(?:\d[\d,]*(?:\.\d*)?\s*)?")
_COMMAND_OPEN = re.compile(r"\\[A-Za-z]*")
_BEGIN = re.compile(r"\\begin\{(\w*\*?)(\}?)")
_END = re.compile(r"\\end\{(\w+\*?)\}")
_URL_HEADS = ("https://", "http://")
_QUOTE_OPENERS = re.compile('["“「『«]')
_QUOTE_CLOSERS = {'"': '"', "“": "”", "「": "」", "『": "』", "«": "»"}


class _Scan:
    """The check's strip scan over a prefix: which positions it starts a match at, and which it jumps over."""

    def __init__(self, plain: str) -> None:
        self.plain = plain
        self.spans = [match.span() for match in STRIP.finditer(plain)]
        self.starts = [start for start, _ in self.spans]

    def inside(self, position: int) -> tuple[int, int] | None:
        """The match that holds `position` past its first character, if one does."""
        index = bisect.bisect_right(self.starts, position) - 1
        if index >= 0 and self.spans[index][0] < position < self.spans[index][1]:
            return self.spans[index]
        return None

    def first_tried(self, opener: str, start: int) -> int | None:
        """The first occurrence of `opener` from `start` on that the scan tries (not inside a match)."""
        position = self.plain.find(opener, start)
        while position >= 0:
            held = self.inside(position)
            if held is None:
                return position
            position = self.plain.find(opener, held[1])
        return None


def _open_before(text: str, plain: str, scan: _Scan) -> int:
    """The first place where text after the prefix could change what the strip scan removes before it."""
    candidates = [len(plain)]
    if (money := text.rfind("$")) >= 0 and _MONEY_OPEN.fullmatch(text, money):
        candidates.append(money)
    # a `$` with no `$` after it, on a line still open, may yet be closed within the check's 300 characters
    for mark, reach in (("$", 301), ("`", len(plain))):  # the last one, unless it closes a match
        last = plain.rfind(mark)
        if last >= 0 and "\n" not in plain[last:] and len(plain) - last <= reach and scan.inside(last) is None:
            candidates.append(last)
    # an opener with no closer after it: every occurrence past the last closer
    for opener, closer in (("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("```", "```")):
        last_closer = plain.rfind(closer)
        found = scan.first_tried(opener, max(0, last_closer - len(opener) + 1))
        if found is not None:
            candidates.append(found)
    ends = {}
    for end in _END.finditer(plain):
        ends.setdefault(end.group(1), []).append(end.start())
    for begin in _BEGIN.finditer(plain):
        if scan.inside(begin.start()) is not None:
            continue
        name, closed = begin.groups()
        closers = ends.get(name, [])
        if begin.end() == len(plain) or (name and closed and bisect.bisect_left(closers, begin.end()) == len(closers)):
            candidates.append(begin.start())
            break
    if (slash := plain.rfind("\\")) >= 0 and _COMMAND_OPEN.fullmatch(plain, slash):
        candidates.append(slash)
    if plain and not plain[-1].isspace():  # a URL, or the start of one, running to the end
        tail_start = _last_word_start(plain)
        tail = plain[tail_start:]
        for head in _URL_HEADS:
            if (at := tail.find(head)) >= 0:
                candidates.append(tail_start + at)
            candidates.extend(len(plain) - size for size in range(1, len(head)) if tail.endswith(head[:size]))
    return min(candidates)


def _last_word_start(plain: str) -> int:
    """Where the run of non-space characters that ends `plain` starts."""
    index = len(plain)
    while index and not plain[index - 1].isspace():
        index -= 1
    return index


def _without_partial_word(text: str) -> str:
    """`text` less a word of a spaced script that may still be growing at its end (a character of a CJK script is
    a word of its own, and stays)."""
    end = len(text)
    while end and (text[end - 1].isalpha() or unicodedata.category(text[end - 1]).startswith("M")):
        if text[end - 1].isalpha() and script_of(text[end - 1]) in CHARACTER_SCRIPTS:
            break
        end -= 1
    return text[:end]


def settled_text(reasoning: str, classifier: Classifier, problem: str) -> str:
    """The prefix `reasoning` as the language check reads it (math, code and URLs removed, exempt quotes blanked),
    as far as no continuation can change that reading."""
    plain = CURRENCY.sub(" ", reasoning)  # one character for one: positions stay
    scan = _Scan(plain)
    cut = _open_before(reasoning, plain, scan)
    held = scan.inside(cut)
    stripped = STRIP.sub(" ", plain[: held[0] if held is not None else cut])
    line = stripped.rfind("\n") + 1
    if (quote := _open_quote(stripped[line:])) is not None:  # a quote on the last line may close later
        stripped = stripped[: line + quote]
    return exempt_quotes(_without_partial_word(stripped), classifier, problem)


def _open_quote(line: str) -> int | None:
    """The first quote on the last line that the check's quote scan tries and that a closing mark may still
    reach (within its 200 characters); None when every quote there is decided."""
    spans = [match.span() for match in QUOTED.finditer(line)]
    starts = [start for start, _ in spans]
    for mark in _QUOTE_OPENERS.finditer(line, max(0, len(line) - 201)):  # a closer must come within 200
        at = mark.start()
        index = bisect.bisect_right(starts, at) - 1
        if index >= 0 and spans[index][0] < at < spans[index][1]:
            continue  # inside a quote, or its closing mark
        if index >= 0 and spans[index][0] == at:
            continue  # a quote that is closed
        if _QUOTE_CLOSERS[mark.group()] not in line[at + 1 :] and len(line) - at - 1 <= 200:
            return at
    return None
