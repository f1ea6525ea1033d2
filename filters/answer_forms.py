"""Forms of a final answer that math-verify reads differently from how a grader does, rewritten in the reference
and the prediction alike before it sees them:

- mixed numbers: `1 1/2`, `1\\frac{1}{2}`, `2\\tfrac34` are 3/2 and 11/4 (a whole number, then a proper
  fraction), not products;
- stray markup: a leading `\\$` or `$` of an amount, a trailing lone backslash (`185\\`), the imaginary unit set
  upright (`2\\mathrm{i}`), which math-verify drops;
- a label before the answer and words joining a list (`answer_prose`), LaTeX thousands separators and degrees
  (`answer_notation`), currency and units after a number (`answer_units`);
- an equation written value first (`2 = x`) as `x = 2`.

Ordered answers, vectors and systems are compared in `answer_elements` and `answer_parts`.
"""

import re

from cotfactory.filters.answer_notation import in_degrees, without_thousands_separators
from cotfactory.filters.answer_prose import joined_by_commas, without_label
from cotfactory.filters.answer_units import without_unit

_MIXED_TEXT = re.compile(r"^\s*(-?)\s*(\d+)\s+(\d+)\s*/\s*(\d+)\s*$")
_MIXED_LATEX = re.compile(r"^\s*(-?)\s*(\d+)\s*\\[dt]?frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))\s*$")
_AMOUNT = re.compile(r"^\s*(?:\\\$|\$)\s*(?=[\d.])")
_TRAILING_BACKSLASH = re.compile(r"(?<!\\)\\\s*$")
_UPRIGHT_I = re.compile(r"\\(?:mathrm|text|operatorname|mathit)\{\s*i\s*\}")
MAX_REWRITTEN = 1000  # characters; final answers are far shorter, and the rules below are not all linear
# `2 = x`: a value (no letters) equal to one variable.
_VALUE_FIRST = re.compile(r"^\s*([^=a-zA-Z]*\d[^=a-zA-Z]*?)\s*=\s*([a-zA-Z])\s*$")


def _mixed(sign: str, whole: str, numerator: str, denominator: str) -> str | None:
    top, bottom = int(numerator), int(denominator)
    if bottom == 0 or top >= bottom:  # `2 4/2` is no mixed number
        return None
    return f"{sign}\\frac{{{int(whole) * bottom + top}}}{{{bottom}}}"


def rewritten(answer: str) -> str:
    """The answer with the forms above made plain; anything else unchanged."""
    text = answer
    if "\\$" in text or text.count("$") == 1:  # an amount, not math between two dollar signs
        text = _AMOUNT.sub("", text)
    text = _TRAILING_BACKSLASH.sub("", text).strip()
    text = _UPRIGHT_I.sub("i", text)
    if len(text) > MAX_REWRITTEN:  # no final answer: left to math-verify as written, in bounded time
        return text
    if "\n" not in text and "\\boxed" not in text:  # a final answer, not a worked solution
        text = joined_by_commas(without_label(text))
    text = in_degrees(without_unit(without_thousands_separators(text)))
    if found := _VALUE_FIRST.match(text):
        text = f"{found.group(2)} = {found.group(1).strip()}"
    if found := _MIXED_TEXT.match(text):
        text = _mixed(*found.groups()) or text
    elif found := _MIXED_LATEX.match(text):
        sign, whole, top, top_digit, bottom, bottom_digit = found.groups()
        text = _mixed(sign, whole, top or top_digit, bottom or bottom_digit) or text
    return text
