"""Telling apart languages that share a script (English and German), sentence by sentence, with lingua
restricted to the configured languages: restricted to a few it is fast and does not split mixed text into
spurious languages the way the full 75-language model does."""

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from cotfactory.filters.checks import CheckSetupError

INSTALL_HINT = "same-script language detection needs lingua: pip install 'cotfactory[lang]'"
_SENTENCE = re.compile(r"[^.!?;:\n。！？]+[.!?;:\n。！？]?")
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]{2,}")


@lru_cache(maxsize=16)
def detector(languages: tuple[str, ...]) -> Any:
    """A lingua detector for these ISO 639-1 codes, built once per process."""
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError as error:
        raise CheckSetupError(INSTALL_HINT) from error
    try:
        chosen = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages]
    except AttributeError as error:
        raise CheckSetupError(f"lingua does not know the language code in {languages}") from error
    return LanguageDetectorBuilder.from_languages(*chosen).build()


def foreign_sentences(
    text: str, target: str, languages: Sequence[str], *, min_words: int, min_confidence: float
) -> list[tuple[str, str, int]]:
    """Sentences of at least `min_words` Latin words that lingua assigns to another of `languages` with at
    least `min_confidence`: (sentence, language code, words)."""
    model = detector(tuple(sorted({target, *languages})))
    found = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group().strip()
        words = len(_LATIN_WORD.findall(sentence))
        if words < min_words:
            continue
        top = model.compute_language_confidence_values(sentence)[0]
        code = top.language.iso_code_639_1.name.lower()
        if code != target and top.value >= min_confidence:
            found.append((sentence, code, words))
    return found
