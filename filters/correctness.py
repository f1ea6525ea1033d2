"""Correctness against the prompt's reference: math with math-verify (multiple choice is in `choice`).

math-verify's timeouts use signal.alarm, which only works in a process's main thread: run this check in the
runner's process pool (its workers call checks from their main thread), never in a thread pool.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from cotfactory.filters.answer_elements import ordered_elements, system_pair
from cotfactory.filters.answer_forms import rewritten
from cotfactory.filters.answer_relations import approximates, same_function_named_differently, with_imaginary_unit
from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.parse import boxed_contents

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
    reference by math-verify, with the forms of `answer_forms`, `answer_elements` and `answer_relations` read as a
    grader reads them. Prompts of other domains pass untouched."""

    timeout_s: int = 5
    missing_reference: str = "reject"  # or "pass": keep samples of prompts without a reference
    # math-verify's own options, under its names: which extractors read the answers, the decimals compared,
    # whether variables must match (f(x) vs f(y)), whether `x in [a, b]` equals `a <= x <= b`.
    extraction: Extraction = ("latex", "expr")
    float_rounding: int = 6
    strict: bool = True
    allow_set_relation_comp: bool = False
    # A decimal for a closed form (`1.414` for `\\sqrt2`) counts with at least this many significant digits,
    # rounded or cut; 0: exact answers only. The verdict's detail says `approximation ...`, so a curator can
    # leave such samples out of a set with one predicate.
    approximation_digits: int = 3

    def __call__(self, sample: Sample) -> Verdict:
        if sample.domain not in ("math", "general"):
            return passed()
        if not sample.reference:
            return failed("no_reference") if self.missing_reference == "reject" else passed()
        from math_verify.errors import TimeoutException

        try:
            gold = _parse_gold(sample.reference, self.extraction, self.timeout_s)
            if not gold:
                return failed("unparseable_reference", detail=sample.reference[:200])
            prediction, boxed = _parse_prediction(sample.answer, self.extraction, self.timeout_s)
            if not prediction:
                return failed("no_answer", detail=(boxed or sample.answer[-200:]) or None)
            if boxed is not None and (by_parts := self._by_parts(sample.reference, boxed, sample.problem)):
                return by_parts
            correct, why = self._equal(gold, prediction, boxed)
        except TimeoutException:
            return failed("verify_timeout", detail=f"over {self.timeout_s}s")
        except Exception as error:  # an answer math-verify cannot even parse: not verified, so not kept
            return failed("wrong_answer", 0.0, f"math-verify could not read it: {error}"[:200])
        shown = (why or str(prediction[-1]))[:200]
        return passed(1.0, shown) if correct else failed("wrong_answer", 0.0, shown)

    def _options(self) -> dict[str, Any]:
        return {
            "float_rounding": self.float_rounding,
            "strict": self.strict,
            "allow_set_relation_comp": self.allow_set_relation_comp,
            "timeout_seconds": self.timeout_s,
        }

    def _equal(self, gold: list[Any], prediction: list[Any], boxed: str | None) -> tuple[bool, str | None]:
        """(equal, why): math-verify's answer, then the relations it misses; `why` names a relation or an error."""
        from math_verify import verify
        from math_verify.errors import TimeoutException

        try:
            if verify(gold, prediction, raise_on_error=True, **self._options()):
                return True, None
        except TimeoutException:
            raise
        except Exception as error:
            # sympy cannot compare one pair (nan, zoo from `12:00`, ...): compare the others, the extracted
            # strings among them, skipping the failing pairs; nothing matched means not kept.
            if verify(gold, prediction, raise_on_error=False, **self._options()):
                return True, None
            return False, f"math-verify could not compare: {error}"
        exact, predicted = gold[0], prediction[0]
        for relation in (same_function_named_differently, with_imaginary_unit):
            if (pair := relation(exact, predicted)) is not None and verify(*pair, **self._options()):
                return True, relation.__name__.replace("_", " ")
        written = boxed if boxed is not None else str(prediction[-1])
        if self.approximation_digits and (digits := approximates(exact, written, self.approximation_digits)):
            return True, f"approximation of {gold[-1]} to {digits}"
        return False, None

    def _equal_text(self, gold_text: str, predicted_text: str) -> bool:
        gold = _parse_gold(gold_text, self.extraction, self.timeout_s)
        predicted, boxed = _parse_prediction(f"\\boxed{{{predicted_text}}}", self.extraction, self.timeout_s)
        return bool(gold and predicted) and self._equal(gold, predicted, boxed)[0]

    def _by_parts(self, reference: str, boxed: str, problem: str) -> Verdict | None:
        """An ordered reference (tuple, vector, ordered list) element by element in order, or a system row by
        row in any order; None when the reference is neither (it is compared whole)."""
        gold_text = rewritten((boxed_contents(reference) or [reference])[-1])
        if _NUMBER_LIKE.match(gold_text):  # `3,600` is one number
            return None
        if (rows := system_pair(gold_text, rewritten(boxed))) is not None:
            gold_rows, predicted_rows = rows
            unmatched = list(predicted_rows)
            for row in gold_rows:
                match = next((p for p in unmatched if self._equal_text(row, p)), None)
                if match is None:
                    return failed("wrong_answer", 0.0, f"no equation equal to {row[:80]!r}: {boxed[:100]}")
                unmatched.remove(match)
            if unmatched:
                return failed("wrong_answer", 0.0, f"{len(predicted_rows)} equations for {len(gold_rows)}")
            return passed(1.0, boxed[:200])
        pairs = ordered_elements(gold_text, rewritten(boxed), problem)
        if pairs is None:
            return None
        gold_parts, predicted_parts = pairs
        if len(gold_parts) != len(predicted_parts):
            return failed("wrong_answer", 0.0, f"{len(predicted_parts)} elements for {len(gold_parts)}: {boxed[:150]}")
        for gold_part, predicted_part in zip(gold_parts, predicted_parts, strict=True):
            if not self._equal_text(gold_part, predicted_part):
                return failed("wrong_answer", 0.0, f"element {predicted_part[:80]!r} for {gold_part[:80]!r} in order")
        return passed(1.0, boxed[:200])
