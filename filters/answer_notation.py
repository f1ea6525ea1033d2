"""Notations of one number that math-verify reads as something else, rewritten in both answers:

- thousands separators of LaTeX: `\\,` `\\ ` `~` `{,}` `,\\!` (and `\\;` `\\:` `\\!`) between digit groups, only
  where every group after the first has exactly three digits and the first has one to three (`1{,}2`, a decimal
  comma, and `1\\,00` stay as written);
- degrees as one unit: `°`, `^\\circ`, `^{\\circ}`, `\\degree`, `\\text{°}`, `\\text{ degrees}`, ` degrees` after a
  number, with minutes (`'`, `\\prime`, `′`) and seconds (`''`, `"`, `″`) after the degrees folded in
  (`30^\\circ 15'` is 30.25). Inside a trigonometric function the angle becomes radians (`\\sin 30^\\circ`);
  elsewhere the mark is dropped, as graders compare angles in degrees. A prime after a letter (`f'(x)`) is a
  derivative and stays.
"""

import re
from fractions import Fraction

_SEPARATOR = r"(?:\\,|\\ |~|\{,\}|,\\!|\\!|\\;|\\:)"
_GROUPED = re.compile(rf"(?<![\d.,{{}}])(\d{{1,3}})((?:\s*{_SEPARATOR}\s*\d{{3}})+)(?![\d])(?!\s*{_SEPARATOR}\s*\d)")
_GROUP_SEPARATOR = re.compile(rf"\s*{_SEPARATOR}\s*")
_NUMBER = r"(\d+(?:\.\d+)?)"
_DEGREE_MARK = (
    r"(?:\s*\^\s*\{?\s*\\circ\s*\}?|\s*°|\s*\\degree(?![a-zA-Z])|\s*\\text\{\s*°\s*\}"
    r"|\s*\\(?:text|mathrm)\{\s*degrees?\s*\}|\s+degrees?\b)"
)
_MINUTE_MARK = r"(?:\s*\^?\s*\{?\s*(?:'|\\prime|′)\s*\}?)"
_SECOND_MARK = r"(?:\s*\^?\s*\{?\s*(?:''|\\prime\s*\\prime|\\dprime|\"|″)\s*\}?)"
_ANGLE = re.compile(rf"{_NUMBER}{_DEGREE_MARK}(?:\s*{_NUMBER}{_MINUTE_MARK}(?!')(?:\s*{_NUMBER}{_SECOND_MARK})?)?")
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-z])")


def without_thousands_separators(text: str) -> str:
    """`1\\,000\\,000` as `1000000`; separators between groups that are not thousands stay."""
    if not any(mark in text for mark in ("\\", "~", "{,}")):
        return text
    return _GROUPED.sub(lambda found: found.group(1) + _GROUP_SEPARATOR.sub("", found.group(2)), text)


def _value(found: re.Match[str]) -> Fraction:
    degrees, minutes, seconds = found.groups()
    value = Fraction(degrees)
    if minutes:
        value += Fraction(minutes) / 60
    if seconds:
        value += Fraction(seconds) / 3600
    return value


def _latex(value: Fraction, written: str) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    if "." in written:  # a decimal angle keeps its decimal form
        return written
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def in_degrees(text: str) -> str:
    """Angles with their marks made plain: radians inside sin/cos/..., a number of degrees elsewhere."""
    if not any(mark in text for mark in ("°", "circ", "degree")):
        return text
    if _TRIG.search(text):

        def radians(found: re.Match[str]) -> str:
            return f"\\left(\\frac{{{_latex(_value(found), found.group(1))}\\pi}}{{180}}\\right)"

        return _ANGLE.sub(radians, text)
    return _ANGLE.sub(lambda found: _latex(_value(found), found.group(1) if not found.group(2) else ""), text)
