"""Forms of a final answer that math-verify reads differently from how a grader does, rewritten or compared
before it sees them:

- mixed numbers: `1 1/2`, `1\\frac{1}{2}`, `2\\tfrac34` are 3/2 and 11/4 (a whole number, then a proper
  fraction), not products;
- money and stray markup: a leading `\\$` or `$` of an amount, a trailing lone backslash (`185\\`), and a unit
  written as `\\text{...}` after a plain number (`10\\text{ cm}`);
- the imaginary unit set upright (`2\\mathrm{i}`), which math-verify drops, and degrees inside a trigonometric
  function (`\\sin(90^\\circ - x)`), which it reads as radians: written as `i` and as multiples of `\\pi/180`;

Ordered answers, vectors and systems are compared in `answer_elements`.
"""

import re

_MIXED_TEXT = re.compile(r"^\s*(-?)\s*(\d+)\s+(\d+)\s*/\s*(\d+)\s*$")
_MIXED_LATEX = re.compile(r"^\s*(-?)\s*(\d+)\s*\\[dt]?frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))\s*$")
_AMOUNT = re.compile(r"^\s*(?:\\\$|\$)\s*(?=[\d.])")
_TRAILING_BACKSLASH = re.compile(r"(?<!\\)\\\s*$")
_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?\d[\d,]*(?:\.\d+)?)\s*\\(?:text|mathrm)\{\s*[A-Za-z ]{1,20}\}\s*$")
_UPRIGHT_I = re.compile(r"\\(?:mathrm|text|operatorname|mathit)\{\s*i\s*\}")
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-z])")
_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-z]))")


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
    if found := _NUMBER_WITH_UNIT.match(text):
        text = found.group(1)
    text = _UPRIGHT_I.sub("i", text)
    if _TRIG.search(text):  # an angle in degrees inside sin/cos/...: in radians, as sympy reads it
        text = _DEGREES.sub(lambda found: f"\\left(\\frac{{{found.group(1)}\\pi}}{{180}}\\right)", text)
    if found := _MIXED_TEXT.match(text):
        text = _mixed(*found.groups()) or text
    elif found := _MIXED_LATEX.match(text):
        sign, whole, top, top_digit, bottom, bottom_digit = found.groups()
        text = _mixed(sign, whole, top or top_digit, bottom or bottom_digit) or text
    return text
