"""Writing systems: which scripts a language is written in (CLDR's likely subtags, through babel), and which
script a character belongs to (Unicode's Script and Script_Extensions properties, through `regex`).

A character counts for a language when its Script_Extensions include one of the language's scripts: the
prolonged sound mark ー (Hiragana, Katakana) and the iteration mark 々 (Han) are Japanese, the danda । is
Bengali as much as Devanagari. Characters of the Common and Inherited scripts (digits, superscripts, math
letters such as 𝑥, arrows, emoji) belong to no language.
"""

from functools import lru_cache

import regex
from babel.core import get_global

from cotfactory.storage.errors import CotfactoryError

# ISO 15924 codes that name a union of scripts (CLDR gives them as a language's likely script).
_UNIONS = {"Jpan": ("Hani", "Hira", "Kana"), "Kore": ("Hang", "Hani"), "Hans": ("Hani",), "Hant": ("Hani",),
           "Hrkt": ("Hira", "Kana")}  # fmt: skip
# Scripts written without spaces between words, or one syllable per character: each character is a word.
CHARACTER_SCRIPTS = frozenset({"Hani", "Hira", "Kana", "Hang"})
_NEUTRAL = regex.compile(r"[\p{sc=Zyyy}\p{sc=Zinh}]")
# Scripts a foreign character is named by, most common first (a cache keeps the lookup per character).
_KNOWN = ("Latn", "Hani", "Cyrl", "Arab", "Hira", "Kana", "Hang", "Grek", "Deva", "Beng", "Thai", "Hebr", "Taml",
          "Telu", "Knda", "Mlym", "Gujr", "Guru", "Orya", "Sinh", "Mymr", "Khmr", "Laoo", "Tibt", "Geor", "Armn",
          "Ethi", "Thaa", "Mong", "Cher", "Cans", "Tfng", "Yiii", "Bopo", "Syrc", "Nkoo", "Vaii", "Olck", "Java",
          "Bali", "Sund", "Tglg", "Copt", "Runr", "Ogam", "Glag", "Goth")  # fmt: skip


class UnknownLanguage(CotfactoryError, ValueError):
    """A target language CLDR does not know; the message names it."""


@lru_cache(maxsize=256)
def language_scripts(language: str) -> frozenset[str]:
    """The ISO 15924 scripts `language` (a BCP 47 / CLDR code: en, zh, zh-Hant, sr-Latn, pt_BR) is written in."""
    parts = language.replace("-", "_").split("_")
    script = next((p.title() for p in parts[1:] if len(p) == 4 and p.isalpha()), None)
    if script is None:
        likely: dict[str, str] = get_global("likely_subtags")
        subtags = likely.get("_".join(parts)) or likely.get(parts[0].lower())
        if subtags is None:
            raise UnknownLanguage(
                f"unknown language {language!r}: not a language code CLDR knows (en, zh, ja, th, ...)"
            )
        script = subtags.split("_")[1]
    return frozenset(_UNIONS.get(script, (script,)))


@lru_cache(maxsize=8192)
def is_neutral(character: str) -> bool:
    """Digits, symbols, math letters and marks of the Common and Inherited scripts: no language's own."""
    return _NEUTRAL.match(character) is not None


@lru_cache(maxsize=65536)
def in_scripts(character: str, scripts: frozenset[str]) -> bool:
    """Whether the character's Script_Extensions include one of `scripts`."""
    return any(_pattern(code).match(character) for code in scripts)


@lru_cache(maxsize=8192)
def script_of(character: str) -> str:
    """The ISO 15924 code of the first script of `_KNOWN` among the character's Script_Extensions; "Zyyy" for
    Common and Inherited characters of none of them, "Zzzz" for a script not listed there."""
    found = next((code for code in _KNOWN if _pattern(code).match(character)), None)
    return found or ("Zyyy" if is_neutral(character) else "Zzzz")


@lru_cache(maxsize=512)
def _pattern(code: str) -> "regex.Pattern[str]":
    return regex.compile(rf"\p{{scx={code}}}")
