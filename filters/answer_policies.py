"""Where graders differ, one named setting of `math_verify` each, with its default:

- `unboxed_answer`: an answer without `\\boxed{}` is read by math-verify's extraction over the whole answer
  (`extract`, the default), from its final non-empty line only (`last_line`), or not at all (`reject`: no box,
  no answer);
- `unsimplified_fraction`: `\\frac{2}{4}` for `\\frac{1}{2}` is right (`accept`, the default: equal values) or
  wrong (`reject`: a fraction of integers in lower terms than written is asked for, unless the reference
  writes the same fraction);
- `list_order`: a bare list of solutions is compared in any order unless its order carries meaning (`meaning`,
  the default: the problem asks for an order, or three or more numbers in neither increasing nor decreasing
  order), in any order (`any`), or in the order the reference gives (`as_given`). Tuples and vectors are
  always ordered.
"""

import re
from math import gcd

POLICIES: dict[str, tuple[str, ...]] = {
    "unboxed_answer": ("extract", "last_line", "reject"),
    "unsimplified_fraction": ("accept", "reject"),
    "list_order": ("meaning", "any", "as_given"),
}
_FRACTION = re.compile(
    r"\\[dt]?frac\s*(?:\{\s*(-?\d+)\s*\}|(\d))\s*(?:\{\s*(-?\d+)\s*\}|(\d))|(?<![\d.^])(\d+)\s*/\s*(\d+)(?![\d.])"
)


def check_policies(settings: dict[str, str]) -> None:
    """Raise ValueError naming the setting whose value is not one of its policy's values."""
    for name, value in settings.items():
        if value not in POLICIES[name]:
            raise ValueError(f"{name} must be one of {', '.join(POLICIES[name])}, not {value!r}")


def unsimplified_fractions(text: str) -> set[str]:
    """The integer fractions of `text` not in lowest terms, as `a/b`."""
    found = set()
    for match in _FRACTION.finditer(text):
        top_braced, top_digit, bottom_braced, bottom_digit, top_plain, bottom_plain = match.groups()
        top, bottom = int(top_braced or top_digit or top_plain), int(bottom_braced or bottom_digit or bottom_plain)
        if bottom and gcd(top, bottom) > 1:
            found.add(f"{top}/{bottom}")
    return found


def final_line(answer: str) -> str:
    """The last non-empty line of an answer."""
    lines = [line for line in answer.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
