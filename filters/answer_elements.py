"""Answers made of elements whose arrangement math-verify does not hold to, split into the elements to compare:

- ordered answers: a single tuple `(a, b, ...)` or a vector (`\\langle a, b \\rangle`, a one-row or one-column
  matrix) is compared element by element in its order (math-verify compares a tuple's elements as a set, and
  reads a two-element tuple as an interval, so `{1, 2}` matched `(1, 2)`). A bare list (`10, 4, -2`) is a list
  of solutions, unordered as graders read it, unless its order carries meaning: the problem asks for an order
  (an ordered pair, "in increasing order", "respectively"), or the reference lists three or more numbers in
  neither increasing nor decreasing order (solution sets are written sorted; `10, 4, -2` answers "find a, b, c");
  the `list_order` policy can make it always or never ordered. Values named by variables (`x = 2, y = 3`) for a
  tuple are taken in the order the problem names the variables. An interval with a square bracket (`[a, b)`)
  is its bracket pair and its ends in order;
- systems (`\\begin{cases} x = 1 \\\\ y = 2 \\end{cases}`, `\\left\\{\\begin{array}...`): math-verify reads one
  row of them; here they are their rows, compared as a set of equations.
"""

import re
from fractions import Fraction
from typing import Literal

from cotfactory.filters.answer_prose import named_values

Kind = Literal["tuple", "vector", "set", "list", "interval"]

_ORDER_ASKED = re.compile(
    r"\bordered\s+(?:pair|triple|quadruple|tuple|list|\w+-tuple)s?\b|\brespectively\b"
    r"|\bin\s+(?:that|this|the\s+same|the\s+given|increasing|decreasing|ascending|descending)\s+order\b",
    re.IGNORECASE,
)
_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.DOTALL)
_SYSTEM = re.compile(
    r"^(?:\\left\s*\\\{\s*)?\\begin\{(cases|array|aligned|gathered|align\*?)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}"
    r"(?:\s*\\right\s*\.)?$",
    re.DOTALL,
)
_PLAIN_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?(?:/\d+)?$")


def top_level_split(text: str, separator: str = ",") -> list[str]:
    """`text` split at `separator` outside brackets and braces."""
    parts, depth, start = [], 0, 0
    for index, character in enumerate(text):
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif text.startswith(separator, index) and depth == 0:
            parts.append(text[start:index])
            start = index + len(separator)
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _balanced(text: str) -> bool:
    depth = 0
    for character in text:
        depth += character in "([{"
        depth -= character in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _matrix_vector(inside: str) -> list[str] | None:
    """The entries of a one-row or one-column matrix body, None for a matrix of both."""
    rows = [row for row in top_level_split(inside, "\\\\") if row]
    cells = [top_level_split(row, "&") for row in rows]
    if len(cells) == 1:
        return cells[0]
    return [row[0] for row in cells] if all(len(row) == 1 for row in cells) else None


def unwrapped(text: str) -> tuple[Kind, list[str]]:
    """(kind, elements): a tuple `(...)`, a vector (`\\langle...\\rangle`, a one-row or one-column matrix), a set
    `\\{...\\}`, else a bare list split at its top-level commas (one element for a single value)."""
    text = re.sub(r"\\left(?![a-z])|\\right(?![a-z])|\\[,;!]|\\quad", " ", text).strip()
    if text.startswith("\\{") and text.endswith("\\}"):
        return "set", top_level_split(text[2:-2])
    if text.startswith("\\langle") and text.endswith("\\rangle"):
        return "vector", top_level_split(text[len("\\langle") : -len("\\rangle")])
    if (found := _MATRIX.match(text)) and (entries := _matrix_vector(found.group(2))) is not None:
        return "vector", entries
    if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        return "tuple", top_level_split(text[1:-1])
    if text[:1] in "([" and text[-1:] in ")]" and "[" in text[0] + text[-1] and _balanced(text[1:-1]):
        ends = top_level_split(text[1:-1])
        if len(ends) == 2:
            return "interval", [text[0], *ends, text[-1]]
    return "list", top_level_split(text)


def _number(text: str) -> Fraction | None:
    text = text.replace(" ", "")
    return Fraction(text) if _PLAIN_NUMBER.match(text) else None


def _order_carries_meaning(parts: list[str]) -> bool:
    """Three or more plain numbers in neither increasing nor decreasing order."""
    numbers = [_number(part) for part in parts]
    if len(numbers) < 3 or any(number is None for number in numbers):
        return False
    return numbers != sorted(numbers) and numbers != sorted(numbers, reverse=True)  # type: ignore[type-var]


def ordered_elements(
    gold: str, prediction: str, problem: str = "", list_order: str = "meaning"
) -> tuple[list[str], list[str]] | None:
    """The elements of an ordered gold answer and of the prediction, to compare in order; None when the gold's
    order does not matter (a value, a set, a list of solutions). A set for an ordered gold gives an empty list:
    it is wrong. An interval's brackets are elements of their own."""
    gold_kind, gold_parts = unwrapped(gold)
    if len(gold_parts) < 2 or not all(gold_parts):
        return None
    kind, parts = unwrapped(prediction)
    if gold_kind == "interval":
        return (gold_parts, parts) if kind in ("interval", "tuple") else None
    ordered = gold_kind in ("tuple", "vector") or (
        gold_kind == "list"
        and "=" not in gold
        and list_order != "any"
        and (list_order == "as_given" or _order_carries_meaning(gold_parts) or bool(_ORDER_ASKED.search(problem)))
    )
    if not ordered:
        return None
    if gold_kind in ("tuple", "vector") and "=" not in gold and (values := named_values(parts, problem)):
        return gold_parts, values
    return gold_parts, [] if kind == "set" else parts


def unordered_elements(gold: str, prediction: str) -> tuple[list[str], list[str]] | None:
    """The elements of two sets or lists of solutions (of the same kind and size, two or more), to match in
    any order; None otherwise."""
    gold_kind, gold_parts = unwrapped(gold)
    kind, parts = unwrapped(prediction)
    if gold_kind not in ("set", "list") or kind not in ("set", "list") or len(gold_parts) < 2:
        return None
    if len(parts) != len(gold_parts) or not all(gold_parts) or not all(parts):
        return None
    return gold_parts, parts


def system_rows(text: str) -> list[str] | None:
    """The equations of a system written as cases or an aligned array, None for anything else."""
    found = _SYSTEM.match(text.strip())
    if not found:
        return None
    rows = [re.sub(r"&|\\[,;]|\\quad", " ", row).strip().rstrip(",.;").strip() for row in found.group(2).split("\\\\")]
    rows = [row for row in rows if row]
    return rows if len(rows) >= 2 else None


def system_pair(gold: str, prediction: str) -> tuple[list[str], list[str]] | None:
    """The rows of a gold system and of the prediction (a system, or equations separated by commas)."""
    gold_rows = system_rows(gold)
    if gold_rows is None:
        return None
    predicted_rows = system_rows(prediction)
    if predicted_rows is None:
        predicted_rows = [row for row in top_level_split(prediction) if row]
    return gold_rows, predicted_rows
