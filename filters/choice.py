"""Multiple choice: the option letter a final answer picks, against the reference's letter."""

import re
from dataclasses import dataclass

from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.parse import last_boxed

_LETTER = re.compile(r"(?<![A-Za-z])([A-J])(?![A-Za-z])")
_ANCHOR = re.compile(r"(?:answer|réponse|respuesta|antwort|答案|选)\s*(?:is|est|es|ist|是|为|:|：)?", re.IGNORECASE)


def _letters(text: str) -> list[str]:
    return _LETTER.findall(text)


def chosen_letter(text: str) -> str | None:
    """The option a final answer picks: a boxed letter, else the first letter after "the answer is" (in a few
    languages), else the first option letter of the text ("D. it can't be A or B" picks D)."""
    boxed = last_boxed(text)
    if boxed is not None and (letters := _letters(boxed)):
        return letters[-1]
    anchors = list(_ANCHOR.finditer(text))
    if anchors and (letters := _letters(text[anchors[-1].end() :])):
        return letters[0]
    letters = _letters(text)
    return letters[0] if letters else None


def reference_letter(reference: str) -> str | None:
    """The option letter of a reference: `C`, `(D) Alina`, or the last line's leading `(C) Cecile`."""
    for line in reversed(reference.strip().splitlines()):
        match = re.match(r"\s*\(?([A-J])(?:[).:\s]|$)", line)
        if match:
            return match.group(1)
    return None


@register("choice", reasons=("wrong_answer", "no_answer", "no_reference"))
@dataclass(frozen=True)
class Choice:
    """Multiple choice: the option letter the final answer picks equals the reference letter. The option's
    text in the reference (`C. 1-i`) counts as an alias of its letter."""

    def __call__(self, sample: Sample) -> Verdict:
        if sample.domain != "choice":
            return passed()
        if not sample.reference:
            return failed("no_reference")
        gold = reference_letter(sample.reference)
        if gold is None:
            return failed("no_reference", detail=f"no option letter in {sample.reference[:50]!r}")
        picked = chosen_letter(sample.answer)
        if picked is None:
            alias = sample.reference.strip()[1:].lstrip(".): ").strip()
            if alias and " ".join(alias.split()) in " ".join(sample.answer.split()):
                return passed(1.0, alias)
            return failed("no_answer")
        return passed(1.0, picked) if picked == gold else failed("wrong_answer", 0.0, picked)
