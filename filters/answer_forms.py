"""Forms of a final answer that math-verify reads differently from how a grader does, rewritten or compared
before it sees them:

- mixed numbers: `1 1/2`, `1\\frac{1}{2}`, `2\\tfrac34` are 3/2 and 11/4 (a whole number, then a proper
  fraction), not products;
- money and stray markup: a leading `\\$` or `$` of an amount, a trailing lone backslash (`185\\`), and a unit
  written as `\\text{...}` after a plain number (`10\\text{ cm}`);
- ordered answers: a single tuple `(a, b, ...)` is compared element by element in its order (math-verify
  compares its elements as a set, and reads a two-element tuple as an interval, so `{1, 2}` matched `(1, 2)`);
  a list of solutions (`1, 2` or `(1, 2), (3, 4)`) stays unordered, as graders read it.
"""

import re

_MIXED_TEXT = re.compile(r"^\s*(-?)\s*(\d+)\s+(\d+)\s*/\s*(\d+)\s*$")
_MIXED_LATEX = re.compile(r"^\s*(-?)\s*(\d+)\s*\\[dt]?frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))\s*$")
_AMOUNT = re.compile(r"^\s*(?:\\\$|\$)\s*(?=[\d.])")
_TRAILING_BACKSLASH = re.compile(r"(?<!\\)\\\s*$")
_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?\d[\d,]*(?:\.\d+)?)\s*\\(?:text|mathrm)\{\s*[A-Za-z ]{1,20}\}\s*$")


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
    if found := _MIXED_TEXT.match(text):
        text = _mixed(*found.groups()) or text
    elif found := _MIXED_LATEX.match(text):
        sign, whole, top, top_digit, bottom, bottom_digit = found.groups()
        text = _mixed(sign, whole, top or top_digit, bottom or bottom_digit) or text
    return text


def _top_level_split(text: str) -> list[str]:
    """`text` split at commas outside brackets and braces."""
    parts, depth, start = [], 0, 0
    for index, character in enumerate(text):
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif character == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _unwrapped(text: str) -> tuple[str, str]:
    """(kind, inside): kind "tuple" for `(...)`, "set" for `\\{...\\}` or `{...}`, "list" for bare commas."""
    text = re.sub(r"\\left|\\right", "", text).strip()
    if text.startswith("\\{") and text.endswith("\\}"):
        return "set", text[2:-2]
    if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        return "tuple", text[1:-1]
    return "list", text


def _balanced(text: str) -> bool:
    depth = 0
    for character in text:
        depth += character in "([{"
        depth -= character in ")]}"
        if depth < 0:
            return False
    return depth == 0


def ordered_elements(gold: str, prediction: str) -> tuple[list[str], list[str]] | None:
    """The elements of a gold tuple `(a, b, ...)` and of the prediction, to compare in order; None when the
    gold is no single tuple (a value, a set in braces, an interval with a bracket, or a list of solutions,
    whose order graders do not hold to). A set for a tuple gives an empty list: it is wrong."""
    gold_kind, gold_inside = _unwrapped(gold)
    if gold_kind != "tuple":
        return None
    gold_parts = _top_level_split(gold_inside)
    if len(gold_parts) < 2 or not all(gold_parts):
        return None
    kind, inside = _unwrapped(prediction)
    if kind == "set":
        return gold_parts, []
    return gold_parts, _top_level_split(inside)
