"""The words of a text, as the language check counts them: every letter classified by its script against the
target language's scripts, after math, code and URLs are removed and quotes the check may exempt are blanked.
The patterns here decide what a prefix of a reasoning can still lose to the text after it (language_prefix.py)."""

import re
import unicodedata
from dataclasses import dataclass

import regex

from cotfactory.filters.scripts import CHARACTER_SCRIPTS, in_scripts, is_neutral, script_of

STRIP = re.compile(
    r"\$\$.*?\$\$|\$[^$\n]{1,300}\$|\\\(.*?\\\)|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}"  # LaTeX math
    r"|```.*?```|`[^`\n]*`"  # code
    r"|https?://\S+"  # URLs
    r"|\\[A-Za-z]+",  # stray LaTeX commands outside delimiters (\frac, \times)
    re.DOTALL,
)
QUOTED = re.compile(
    r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|「([^」\n]{1,200})」|『([^』\n]{1,200})』|«([^»\n]{1,200})»"
)
# A dollar sign of money ("$2 per egg", "US$ 66103 to"), not of math: left unpaired it would pair up with
# the next math delimiter and hide the text between them.
CURRENCY = re.compile(r"\$(?=\s?\d[\d,]*(?:\.\d+)?\s+[^\W\d_])")
# A word: letters with their combining marks (Thai, Bengali and Devanagari vowel signs are marks).
_WORD = regex.compile(r"(?:\p{L}\p{M}*)+")
_ASCII_WORD = re.compile(r"[A-Za-z]+")
TARGET = "target"
MARK = "mark"


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    script: str  # TARGET, or the ISO 15924 code of a foreign script
    start: int
    end: int


class Classifier:
    """Characters against one target language's scripts, cached per character."""

    def __init__(self, scripts: frozenset[str]) -> None:
        self.scripts = scripts
        self.latin_target = "Latn" in scripts
        self._labels: dict[str, str | None] = {}

    def label(self, character: str) -> str | None:
        """TARGET, a foreign script's code, MARK for a combining mark (it takes the label of the letter it
        sits on), or None for a character of no language (or Greek, as math)."""
        found = self._labels.get(character, "")
        if found != "":
            return found
        if unicodedata.category(character).startswith("M"):
            result: str | None = MARK
        elif in_scripts(character, self.scripts):
            result = TARGET
        elif is_neutral(character):
            result = None
        else:
            script = script_of(character)
            result = None if script == "Grek" else script
        self._labels[character] = result
        return result

    def tokens(self, text: str) -> list[Token]:
        """The words of `text` by script; each character of a character script is a word of its own."""
        found: list[Token] = []
        ascii_label = TARGET if self.latin_target else "Latn"
        if text.isascii():  # the stdlib's engine is faster, and ASCII letters are all Latin
            return [Token(m.group(), ascii_label, m.start(), m.end()) for m in _ASCII_WORD.finditer(text)]
        label = self.label
        for match in _WORD.finditer(text):
            word, offset = match.group(), match.start()
            if word.isascii():  # most words of most traces: no per-character lookup needed
                found.append(Token(word, ascii_label, offset, match.end()))
                continue
            run_start, run_label = 0, label(word[0])
            for index in range(1, len(word)):
                current = label(word[index])
                if current in (run_label, MARK):
                    continue
                self._add_run(found, word, run_start, index, run_label, offset)
                run_start, run_label = index, current
            self._add_run(found, word, run_start, len(word), run_label, offset)
        return found

    def _add_run(self, found: list[Token], word: str, start: int, end: int, label: str | None, offset: int) -> None:
        if label is None or label == MARK:
            return
        piece = word[start:end]
        script = script_of(piece[0]) if label == TARGET else label
        if script in CHARACTER_SCRIPTS:
            found.extend(Token(c, label, offset + i, offset + i + 1) for i, c in enumerate(piece, start))
        else:
            found.append(Token(piece, label, offset + start, offset + end))


def strip_non_language(text: str) -> str:
    """Text without math, code and URLs (each replaced by a space, so words do not join)."""
    return STRIP.sub(" ", CURRENCY.sub(" ", text))


def normalized(text: str) -> str:
    return regex.sub(r"[\s\p{P}]+", "", text).casefold()


def exempt_quotes(text: str, classifier: Classifier, problem: str) -> str:
    """Quoted spans blanked where they may hold foreign words: in the target's script only, or quoting what the
    problem says. Other quotes stay, so a foreign phrase inside quotation marks still counts."""
    source = normalized(problem)

    def blank(found: re.Match[str]) -> str:
        inner = next(group for group in found.groups() if group is not None)
        foreign = any(token.script != TARGET for token in classifier.tokens(inner))
        quotes_problem = bool(normalized(inner)) and normalized(inner) in source
        return " " if not foreign or quotes_problem else found.group()

    return QUOTED.sub(blank, text)
