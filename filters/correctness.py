"""Correctness against the prompt's reference: math with math-verify, multiple-choice letters.

math-verify's timeouts use signal.alarm, which only works in a process's main thread: run this check in the
runner's process pool (its workers call checks from their main thread), never in a thread pool.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from cotfactory.filters.answer_forms import ordered_elements, rewritten
from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.storage.prompt_fields import boxed_contents, last_boxed

_LETTER = re.compile(r"(?<![A-Za-z])([A-J])(?![A-Za-z])")
# Only `0,5`-style: `1,2` is more often a list of two answers than a decimal in a comma locale.
_DECIMAL_COMMA = re.compile(r"^-?0,\d+$")
_NUMBER_NOISE = re.compile(r"(?<=\d),(?=\d{3}\b)|\s+")


# A plain number, perhaps with thousands separators: `3,600`, `1 000`, `-2.50`. Anything else (LaTeX, lists
# such as `32, 349` or `(12,102)`) is left to math-verify as written.
_NUMBER_LIKE = re.compile(r"^\s*[-+]?\d(?:[\d ]|,(?=\d))*(?:\.\d*)?\s*\.?\s*$")


def normalize_number_text(text: str) -> str:
    """GSM8K-style answers: drop thousands separators, spaces and a trailing `.0` (`3,600.0` -> `3600`);
    a decimal comma after a zero (`0,111`) becomes a point. Text that is not a plain number is kept."""
    if not _NUMBER_LIKE.match(text):
        return text.strip()
    text = text.strip().rstrip(".")
    if _DECIMAL_COMMA.match(text):
        text = text.replace(",", ".")
    text = _NUMBER_NOISE.sub("", text)
    return re.sub(r"^(-?\d+)\.0+$", r"\1", text)


_PERCENT_WORDS = re.compile(r"\s*\b(?:percentage|percent|pct)\b")
_AND = re.compile(r"\s*\\(?:text|mathrm)\{\s*and\s*\}\s*")


def _normalize_words(answer: str) -> str:
    """Words math-verify does not read inside an answer: `28 percent` is `28\\%`, `6 \\text{ and } 8` is `6, 8`."""
    return _AND.sub(", ", _PERCENT_WORDS.sub("\\%", answer))


Extraction = tuple[Literal["latex", "expr"], ...]


def _parse(text: str, extraction: Extraction, timeout: int) -> list[Any]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    configs = {"latex": LatexExtractionConfig, "expr": ExprExtractionConfig}
    return parse(text, extraction_config=[configs[kind]() for kind in extraction], parsing_timeout=timeout)


@lru_cache(maxsize=65536)
def _parse_gold(reference: str, extraction: Extraction, timeout: int) -> list[Any]:
    # Parsed once per prompt and worker (the cache). A bare answer is boxed so that any LaTeX in it is the
    # extraction target; one already delimited ($...$, \\boxed) is parsed as written.
    reference = _normalize_words(rewritten(reference))
    if "latex" not in extraction:  # plain expressions only: nothing to box
        return _parse(normalize_number_text(reference) or reference, extraction, timeout)
    if "$" in reference or "\\boxed" in reference or "\\(" in reference or "\\[" in reference:
        return _parse(reference, extraction, timeout)
    return _parse(f"\\boxed{{{normalize_number_text(reference) or reference}}}", extraction, timeout)


def _parse_prediction(answer: str, extraction: Extraction, timeout: int) -> tuple[list[Any], str | None]:
    boxes = [_normalize_words(rewritten(box)) for box in boxed_contents(answer)]
    if len(boxes) == 1 and "latex" in extraction:
        boxed = f"\\boxed{{{normalize_number_text(boxes[0]) or boxes[0]}}}"
        return _parse(boxed, extraction, timeout), boxes[0]
    # No box: math-verify's own extraction. Several boxes: math-verify joins them into one answer (a set of
    # solutions boxed one by one); conflicting boxes are the `multiple_final_answers` check's business.
    return _parse(answer, extraction, timeout), None


def warm_up() -> None:
    """Load math-verify's parser and sympy (about a second on first use) before the first batch needs them."""
    from math_verify import verify

    verify(_parse_gold("1", ("latex", "expr"), 5), _parse_prediction("\\boxed{1}", ("latex", "expr"), 5)[0])


@register(
    "math_verify",
    reasons=("wrong_answer", "no_answer", "no_reference", "unparseable_reference", "verify_timeout"),
    cost="expensive",
)
@dataclass(frozen=True)
class MathVerify:
    """The final answer (last `\\boxed{}` after the reasoning, else math-verify's extraction) equals the
    reference by math-verify. Prompts of other domains pass untouched."""

    timeout_s: int = 5
    missing_reference: str = "reject"  # or "pass": keep samples of prompts without a reference
    # math-verify's own options, under its names: which extractors read the answers, the decimals compared,
    # whether variables must match (f(x) vs f(y)), whether `x in [a, b]` equals `a <= x <= b`.
    extraction: Extraction = ("latex", "expr")
    float_rounding: int = 6
    strict: bool = True
    allow_set_relation_comp: bool = False

    def __call__(self, sample: Sample) -> Verdict:
        if sample.domain not in ("math", "general"):
            return passed()
        if not sample.reference:
            return failed("no_reference") if self.missing_reference == "reject" else passed()
        from math_verify import verify
        from math_verify.errors import TimeoutException

        try:
            gold = _parse_gold(sample.reference, self.extraction, self.timeout_s)
            if not gold:
                return failed("unparseable_reference", detail=sample.reference[:200])
            prediction, boxed = _parse_prediction(sample.answer, self.extraction, self.timeout_s)
            if not prediction:
                return failed("no_answer", detail=(boxed or sample.answer[-200:]) or None)
            options = {
                "float_rounding": self.float_rounding,
                "strict": self.strict,
                "allow_set_relation_comp": self.allow_set_relation_comp,
                "timeout_seconds": self.timeout_s,
            }
            if boxed is not None and (ordered := self._ordered(sample.reference, boxed, options)) is not None:
                return ordered
            try:
                correct = verify(gold, prediction, raise_on_error=True, **options)
            except TimeoutException:
                raise
            except Exception as error:
                # sympy cannot compare one pair (nan, zoo from `12:00`, ...): compare the others, the
                # extracted strings among them, skipping the failing pairs; nothing matched means not kept.
                correct = verify(gold, prediction, raise_on_error=False, **options)
                if not correct:
                    return failed("wrong_answer", 0.0, f"math-verify could not compare: {error}"[:200])
        except TimeoutException:
            return failed("verify_timeout", detail=f"over {self.timeout_s}s")
        except Exception as error:  # an answer math-verify cannot even parse: not verified, so not kept
            return failed("wrong_answer", 0.0, f"math-verify could not read it: {error}"[:200])
        shown = str(prediction[-1])[:200]
        return passed(1.0, shown) if correct else failed("wrong_answer", 0.0, shown)

    def _ordered(self, reference: str, boxed: str, options: dict[str, Any]) -> Verdict | None:
        """A tuple or list reference against the boxed answer, element by element in order; None when the
        reference is not ordered (math-verify compares it whole)."""
        from math_verify import verify

        gold_text = (boxed_contents(reference) or [reference])[-1]
        if _NUMBER_LIKE.match(gold_text):  # `3,600` is one number
            return None
        pairs = ordered_elements(rewritten(gold_text), boxed)
        if pairs is None:
            return None
        gold_parts, predicted_parts = pairs
        if len(gold_parts) != len(predicted_parts):
            return failed("wrong_answer", 0.0, f"{len(predicted_parts)} elements for {len(gold_parts)}: {boxed[:150]}")
        for gold_part, predicted_part in zip(gold_parts, predicted_parts, strict=True):
            gold = _parse_gold(gold_part, self.extraction, self.timeout_s)
            predicted, _ = _parse_prediction(f"\\boxed{{{predicted_part}}}", self.extraction, self.timeout_s)
            if not gold or not predicted or not verify(gold, predicted, **options):
                return failed("wrong_answer", 0.0, f"element {predicted_part[:80]!r} for {gold_part[:80]!r} in order")
        return passed(1.0, boxed[:200])


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
