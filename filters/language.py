"""Language consistency, as R1 defined it: the share of target-language words in the reasoning. A share alone
misses the short foreign fragments real traces slip into (a few Chinese words in 8,000 characters of English
keep the share above 0.99), so fragments of two or more foreign words or characters are flagged too.

Math, code, quotes and URLs are removed first. Greek letters count as math. Scripts are told apart by
Unicode character names, so any script is caught; two languages of one script (English and German) are not
told apart here.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.same_script import detector, foreign_sentences

_STRIP = re.compile(
    r"\$\$.*?\$\$|\$[^$\n]{1,300}\$|\\\(.*?\\\)|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}"  # LaTeX math
    r"|```.*?```|`[^`\n]*`"  # code
    r"|https?://\S+"  # URLs
    r"|\"[^\"\n]{0,200}\"|“[^”\n]{0,200}”|「[^」\n]{0,200}」|『[^』\n]{0,200}』"  # quotes
    r"|\\[A-Za-z]+",  # stray LaTeX commands outside delimiters (\frac, \times)
    re.DOTALL,
)
# A dollar sign of money ("$2 per egg", "US$ 66103 to"), not of math: left unpaired it would pair up with
# the next math delimiter and hide the text between them.
_CURRENCY = re.compile(r"\$(?=\s?\d[\d,]*(?:\.\d+)?\s+[^\W\d_])")
_WORD = re.compile(r"[^\W\d_]+")
_SEPARATOR = re.compile(r"^[\s,.;:!?()\[\]{}'\"“”‘’、，。；：！？（）·\-–—/]*$")

# Scripts written one character per word: each character counts as a word.
CHARACTER_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL"})
TARGET_SCRIPTS = {
    "en": frozenset({"LATIN"}),
    "de": frozenset({"LATIN"}),
    "fr": frozenset({"LATIN"}),
    "es": frozenset({"LATIN"}),
    "zh": frozenset({"CJK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL", "CJK"}),
    "ru": frozenset({"CYRILLIC"}),
}
# Latin words a reasoning in another script may use: function names, units, common math shorthand.
_FUNCTIONS = "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim sup inf gcd lcm mod"
_SHORTHAND = "max min det rank dim deg arg"
_UNITS = "cm mm km kg mg ml ms mol rad kmh mph"
MATH_TERMS = frozenset(f"{_FUNCTIONS} {_SHORTHAND} {_UNITS}".split())


@lru_cache(maxsize=4096)
def script_of(character: str) -> str:
    """The script of a letter by its Unicode name (LATIN, CJK, HIRAGANA, CYRILLIC, ...)."""
    name = unicodedata.name(character, "")
    script = name.split(" ", 1)[0]
    if script in ("FULLWIDTH", "HALFWIDTH"):
        return "LATIN" if "LATIN" in name else "CJK"
    return script


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    script: str
    start: int
    end: int


def tokens(text: str) -> list[Token]:
    """Words of `text` split by script; characters of character scripts are single tokens."""
    found = []
    for match in _WORD.finditer(text):
        word, offset, run_start = match.group(), match.start(), 0
        if word.isascii():  # most words of most traces: no per-character lookup needed
            found.append(Token(word, "LATIN", offset, match.end()))
            continue
        for index in range(1, len(word) + 1):
            if index == len(word) or script_of(word[index]) != script_of(word[run_start]):
                script = script_of(word[run_start])
                if script in CHARACTER_SCRIPTS:
                    found.extend(
                        Token(c, script, offset + i, offset + i + 1)
                        for i, c in enumerate(word[run_start:index], run_start)
                    )
                else:
                    found.append(Token(word[run_start:index], script, offset + run_start, offset + index))
                run_start = index
    return found


def strip_non_language(text: str) -> str:
    """Text without math, code, quotes and URLs (each replaced by a space, so words do not join)."""
    return _STRIP.sub(" ", _CURRENCY.sub(" ", text))


def detect_language(text: str) -> str:
    """A coarse target language from the script of most words: zh, ja, ko, ru or en."""
    counts: dict[str, int] = {}
    for token in tokens(strip_non_language(text)):
        counts[token.script] = counts.get(token.script, 0) + 1
    if counts.get("HIRAGANA", 0) + counts.get("KATAKANA", 0) > 0 and counts.get("CJK", 0) + counts.get(
        "HIRAGANA", 0
    ) >= counts.get("LATIN", 0):
        return "ja"
    best = max(counts, key=counts.get, default="LATIN")
    return {"CJK": "zh", "HANGUL": "ko", "CYRILLIC": "ru"}.get(best, "en")


@register("language", reasons=("language_mixed", "answer_language"))
@dataclass(frozen=True)
class LanguageConsistency:
    """Reasoning in one language: the target-language share of words at least `min_share`, and no foreign
    fragment of `min_fragment` words (or characters, for CJK scripts) or more. Score = the share."""

    min_share: float = 0.95
    min_fragment: int = 2
    check_answer: bool = True
    min_answer_words: int = 3
    # Languages sharing the target's script to tell apart with lingua (e.g. ["en", "de"]); empty: script only.
    same_script: tuple[str, ...] = ()
    min_sentence_words: int = 4
    min_confidence: float = 0.9

    def __post_init__(self) -> None:
        if self.same_script:
            detector(tuple(sorted(set(self.same_script))))  # fail at config time, not in a worker

    def _is_foreign(self, token: Token, target: frozenset[str]) -> bool:
        if token.script in target or token.script == "GREEK":
            return False
        if token.script == "LATIN":
            # in a non-Latin reasoning: variables, function names, units and acronyms (AM-GM) are math
            return not (len(token.text) == 1 or token.text.lower() in MATH_TERMS or token.text.isupper())
        return True

    def _fragments(self, text: str, words: list[Token], target: frozenset[str]) -> list[str]:
        fragments, run = [], []
        for token in words:
            foreign = self._is_foreign(token, target)
            joined = run and _SEPARATOR.match(text[run[-1].end : token.start])
            if foreign and (not run or joined):
                run.append(token)
                continue
            if len(run) >= self.min_fragment:
                fragments.append(text[run[0].start : run[-1].end])
            run = [token] if foreign else []
        if len(run) >= self.min_fragment:
            fragments.append(text[run[0].start : run[-1].end])
        return fragments

    def __call__(self, sample: Sample) -> Verdict:
        language = sample.target_language or detect_language(sample.problem)
        target = TARGET_SCRIPTS.get(language, frozenset({"LATIN"}))
        text = strip_non_language(sample.reasoning)
        words = [t for t in tokens(text) if not (t.script == "LATIN" and len(t.text) == 1) and t.script != "GREEK"]
        foreign = sum(self._is_foreign(t, target) for t in words)
        share = 1.0 if not words else 1 - foreign / len(words)
        fragments = self._fragments(text, words, target)
        if fragments:
            return failed("language_mixed", share, f"{language} reasoning with {fragments[0][:80]!r}")
        if self.same_script and language in self.same_script and words:
            foreign_text = foreign_sentences(
                text, language, self.same_script, min_words=self.min_sentence_words, min_confidence=self.min_confidence
            )
            if foreign_text:
                share = min(share, 1 - sum(count for _, _, count in foreign_text) / len(words))
                sentence, code, _ = foreign_text[0]
                return failed("language_mixed", share, f"{language} reasoning with {code}: {sentence[:80]!r}")
        if share < self.min_share:
            return failed("language_mixed", share, f"{share:.1%} {language}")
        if self.check_answer:
            answer_words = [t for t in tokens(strip_non_language(sample.answer)) if t.script != "GREEK"]
            answer_foreign = sum(self._is_foreign(t, target) for t in answer_words)
            if len(answer_words) >= self.min_answer_words and answer_foreign > len(answer_words) / 2:
                return failed("answer_language", share, f"answer not in {language}")
        return passed(share)
