"""Correctness against the prompt's reference: math with math-verify (multiple choice is in `choice`).

math-verify's timeouts use signal.alarm, which only works in a process's main thread: run this check in the
runner's process pool (its workers call checks from their main thread), never in a thread pool.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from cotfactory.filters.answer_forms import rewritten
from cotfactory.filters.answer_parts import by_parts, solutions_match
from cotfactory.filters.answer_plain import plain_value, with_symbols_of
from cotfactory.filters.answer_policies import check_policies, final_line, unsimplified_fractions
from cotfactory.filters.answer_relations import approximates, same_function_named_differently, with_imaginary_unit
from cotfactory.filters.answer_units import asks_percentage, number_of_percent
from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.parse import boxed_contents

# Only `0,5`-style: `1,2` is more often a list of two answers than a decimal in a comma locale.
_DECIMAL_COMMA = re.compile(r"^-?0,\d+$")
_NUMBER_NOISE = re.compile(r"(?<=\d),(?=\d{3}\b)|\s+")


# A plain number, perhaps with thousands separators: `3,600`, `1 000`, `-2.50`. Anything else (LaTeX, lists
# such as `32, 349` or `(12,102)`) is left to math-verify as written.
# Possessive (`*+`): linear on long runs of spaces that end in something else.
_NUMBER_LIKE = re.compile(r"^\s*[-+]?\d(?:[\d ]|,(?=\d))*+(?:\.\d*)?\s*\.?\s*$")


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


# Starting only where a run of spaces starts: linear on long runs of spaces.
_PERCENT_WORDS = re.compile(r"(?<!\s)\s*\b(?:percentage|percent|pct)\b")


def _normalize_words(answer: str, percent_asked: bool = False) -> str:
    """Words math-verify does not read inside an answer: `28 percent` is `28\\%`; where the problem asks for a
    percentage, the number of percent alone (`28`)."""
    text = _PERCENT_WORDS.sub("\\%", rewritten(answer))
    return number_of_percent(text) if percent_asked else text


Extraction = tuple[Literal["latex", "expr"], ...]


def _parse(text: str, extraction: Extraction, timeout: int) -> list[Any]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    configs = {"latex": LatexExtractionConfig, "expr": ExprExtractionConfig}
    return parse(text, extraction_config=[configs[kind]() for kind in extraction], parsing_timeout=timeout)


@lru_cache(maxsize=65536)
def _parse_gold(reference: str, extraction: Extraction, timeout: int, percent_asked: bool = False) -> list[Any]:
    # Parsed once per prompt and worker (the cache). A bare answer is boxed so that any LaTeX in it is the
    # extraction target; one already delimited ($...$, \\boxed) is parsed as written.
    reference = _normalize_words(reference, percent_asked)
    if "latex" not in extraction:  # plain expressions only: nothing to box
        return _parse(normalize_number_text(reference) or reference, extraction, timeout)
    if "$" in reference or "\\boxed" in reference or "\\(" in reference or "\\[" in reference:
        return _parse(reference, extraction, timeout)
    return _parse(f"\\boxed{{{normalize_number_text(reference) or reference}}}", extraction, timeout)


@lru_cache(maxsize=65536)
def _gold_text(reference: str, percent_asked: bool) -> str:
    """The reference's final answer as the answer forms write it, once per prompt and worker."""
    return _normalize_words((boxed_contents(reference) or [reference])[-1], percent_asked)


def _parse_prediction(
    answer: str, extraction: Extraction, timeout: int, percent_asked: bool = False, unboxed: str = "extract"
) -> tuple[list[Any], str | None]:
    boxes = [_normalize_words(box, percent_asked) for box in boxed_contents(answer)]
    if len(boxes) == 1 and "latex" in extraction:
        boxed = f"\\boxed{{{normalize_number_text(boxes[0]) or boxes[0]}}}"
        return _parse(boxed, extraction, timeout), boxes[0]
    if not boxes and unboxed == "reject":
        return [], None
    if not boxes and unboxed == "last_line":
        answer = final_line(answer)
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
    # A decimal for a closed form (`1.414` for `\\sqrt2`), in either answer, counts with at least this many
    # significant digits, rounded or cut (or within `approximation_tolerance`, relative, when above 0); 0: exact
    # answers only. The verdict's detail says `approximation ...`, so a curator can leave such samples out.
    approximation_digits: int = 3
    approximation_tolerance: float = 0.0
    # Where graders differ (see `answer_policies`): answers without a box, unsimplified fractions, list order.
    unboxed_answer: str = "extract"
    unsimplified_fraction: str = "accept"
    list_order: str = "meaning"

    def __post_init__(self) -> None:
        check_policies(
            {
                "unboxed_answer": self.unboxed_answer,
                "unsimplified_fraction": self.unsimplified_fraction,
                "list_order": self.list_order,
            }
        )

    def __call__(self, sample: Sample) -> Verdict:
        if sample.domain not in ("math", "general"):
            return passed()
        if not sample.reference:
            return failed("no_reference") if self.missing_reference == "reject" else passed()
        from math_verify.errors import TimeoutException

        percent = asks_percentage(sample.problem)
        try:
            gold = _parse_gold(sample.reference, self.extraction, self.timeout_s, percent)
            if not gold:
                return failed("unparseable_reference", detail=sample.reference[:200])
            prediction, boxed = _parse_prediction(
                sample.answer, self.extraction, self.timeout_s, percent, self.unboxed_answer
            )
            if not prediction:
                return failed("no_answer", detail=(boxed or sample.answer[-200:]) or None)
            gold_text = _gold_text(sample.reference, percent)
            if boxed is not None and not _NUMBER_LIKE.match(gold_text):  # `3,600` is one number, not a pair
                equal_text = self._equal_text_under(percent)
                if verdict := by_parts(gold_text, boxed, sample.problem, equal_text, self.list_order):
                    return self._simplified(verdict, sample.reference, boxed)
            correct, why = self._equal(gold, prediction, boxed, gold_text)
            equal_text = self._equal_text_under(percent)
            if not correct and boxed is not None and solutions_match(gold_text, boxed, equal_text):
                correct, why = True, f"{boxed[:150]} element by element"
        except TimeoutException:
            return failed("verify_timeout", detail=f"over {self.timeout_s}s")
        except Exception as error:  # an answer math-verify cannot even parse: not verified, so not kept
            return failed("wrong_answer", 0.0, f"math-verify could not read it: {error}"[:200])
        shown = (why or str(prediction[-1]))[:200]
        verdict = passed(1.0, shown) if correct else failed("wrong_answer", 0.0, shown)
        return self._simplified(verdict, sample.reference, boxed)

    def _simplified(self, verdict: Verdict, reference: str, boxed: str | None) -> Verdict:
        """Under `unsimplified_fraction = "reject"`, an accepted answer with a reducible integer fraction the
        reference does not write is wrong."""
        if self.unsimplified_fraction == "accept" or not verdict.passed or boxed is None:
            return verdict
        if extra := unsimplified_fractions(boxed) - unsimplified_fractions(reference):
            return failed("wrong_answer", 0.0, f"unsimplified fraction {sorted(extra)[0]}")
        return verdict

    def _options(self) -> dict[str, Any]:
        return {
            "float_rounding": self.float_rounding,
            "strict": self.strict,
            "allow_set_relation_comp": self.allow_set_relation_comp,
            "timeout_seconds": self.timeout_s,
        }

    def _equal(
        self, gold: list[Any], prediction: list[Any], boxed: str | None, gold_text: str
    ) -> tuple[bool, str | None]:
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
        written = boxed if boxed is not None else str(prediction[-1])
        plain_gold, plain_predicted = plain_value(gold_text), plain_value(written)
        if plain_predicted is not None or plain_gold is not None:  # math typed as text: as sympy's parser reads it
            golds = [with_symbols_of(plain_gold, prediction)] if plain_gold is not None else gold
            predictions = [with_symbols_of(plain_predicted, gold)] if plain_predicted is not None else prediction
            if verify(golds, predictions, **self._options()):
                return True, "plain-text math"
        for relation in (same_function_named_differently, with_imaginary_unit):
            if (pair := relation(exact, predicted)) is not None and verify(*pair, **self._options()):
                return True, relation.__name__.replace("_", " ")
        if self.approximation_digits:
            return self._approximation(exact, predicted, written, gold_text, str(gold[-1]))
        return False, None

    def _approximation(
        self, exact: Any, predicted: Any, written: str, gold_text: str, shown: str
    ) -> tuple[bool, str | None]:
        """A decimal for the exact other answer, either way round; in equations of one variable, their sides."""
        import sympy

        pairs = [(exact, written, shown), (predicted, gold_text, str(predicted))]
        same_side = isinstance(exact, sympy.Eq) and isinstance(predicted, sympy.Eq) and exact.lhs == predicted.lhs
        if same_side and written.count("=") == 1 and gold_text.count("=") == 1:
            pairs = [(exact.rhs, written.split("=")[1], shown), (predicted.rhs, gold_text.split("=")[1], shown)]
        for value, decimal, of in pairs:
            if digits := approximates(value, decimal, self.approximation_digits, self.approximation_tolerance):
                return True, f"approximation of {of} to {digits}"
        return False, None

    def _equal_text_under(self, percent: bool) -> Callable[[str, str], bool]:
        def equal_text(gold_text: str, predicted_text: str) -> bool:
            gold = _parse_gold(gold_text, self.extraction, self.timeout_s, percent)
            predicted, boxed = _parse_prediction(f"\\boxed{{{predicted_text}}}", self.extraction, self.timeout_s)
            return bool(gold and predicted) and self._equal(gold, predicted, boxed, gold_text)[0]

        return equal_text
