"""Amounts, units and percentages around a number, made the number a grader compares:

- currency before or after a number: `\\$10.00`, `€5`, `£3`, `¥20`, `₹100`, `US\\$4`, `10 dollars`, `5 euros`,
  `5 USD`, also as `\\text{ dollars}`;
- a unit after a number: `12\\text{ cm}^2`, `12 \\mathrm{cm}^2`, `5\\text{ m/s}`, `3 \\, \\text{kg}`, or a plain
  unit word of a known list (`12 cm^2`, `4 square feet`); a power after a bare number (`12^2`) is no unit;
- percent: where the problem asks for a percentage (`what percent`, `as a percentage`), the answer is the number
  of percent, so `25\\%`, `25 percent` and `25` agree and `0.25` does not; elsewhere math-verify's reading
  stands (`25\\%` is the value 0.25).
"""

import re

_NUMBER = r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+|\\[dt]?frac\s*\{\s*\d+\s*\}\s*\{\s*\d+\s*\})"
_SPACE = r"(?:\s|\\,|\\;|\\:|\\ |~|\\!)*"
_CURRENCY_SIGN = r"(?:US\s*)?(?:\\\$|\$)|€|£|¥|₹|\\euro\b|\\pounds\b|\\yen\b|Rs\.?|USD|EUR|GBP|RMB"
_CURRENCY_WORD = r"dollars?|cents?|euros?|pounds?|yen|yuan|rupees?|USD|EUR|GBP|CNY|JPY|RMB|bucks"
_UNIT_WORD = (
    r"(?:(?:square|sq\.?|cubic|cu\.?)\s+)?(?:mm|cm|km|m|in|inch(?:es)?|ft|feet|foot|yd|yards?|mi|miles?|meters?"
    r"|centimeters?|kilometers?|kg|g|mg|grams?|kilograms?|lbs?|pounds?|oz|ounces?|l|L|ml|mL|liters?|litres?"
    r"|gallons?|s|sec|seconds?|min|minutes?|h|hr|hrs|hours?|days?|weeks?|months?|years?|mph|units?|degrees?"
    r"|people|students|apples|cookies|marbles|pages|points|cents)"
)
_POWER = r"(?:\s*\^\s*\{?\s*[23]\s*\}?)?"
_UNIT = (
    rf"(?:{_SPACE}\\(?:text|mathrm|mbox|textrm)\s*\{{\s*(?:{_CURRENCY_WORD}|[A-Za-z°][A-Za-z°/ .\-]{{0,24}})\s*\}}"
    rf"{_POWER}(?:\s*/\s*\\(?:text|mathrm)\s*\{{[A-Za-z ]{{1,12}}\}}{_POWER})?"
    # a plain unit word only after a space: `5m` and `3h` may be products with a variable
    rf"|(?:\s|\\,|\\;|\\ |~)+(?:{_CURRENCY_WORD}|{_UNIT_WORD}){_POWER}(?:\s*/\s*{_UNIT_WORD}{_POWER})?)"
)
_WITH_UNIT = re.compile(rf"^\s*({_NUMBER}){_UNIT}\s*\.?\s*$")
_WITH_SIGN = re.compile(rf"^\s*([-+]?){_SPACE}(?:{_CURRENCY_SIGN}){_SPACE}({_NUMBER})(?:{_UNIT})?\s*\.?\s*$")
_PERCENT_ASKED = re.compile(
    r"\b(?:what|which|how\s+many)\s+(?:\w+\s+)?percent(?:age)?s?\b|\bas\s+an?\s+percent(?:age)?\b"
    r"|\b(?:in|to\s+the\s+nearest|nearest\s+whole)\s+percent(?:age)?\b|\bpercent(?:age)?\s+(?:of|is|was|will|did)\b"
    r"|\bexpress\w*\b[^.?]{0,60}\bpercent(?:age)?\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(
    r"(?<!\s)\s*(?:\\%|%|\\(?:text|mathrm)\{\s*(?:percent|\\?%)\s*\}|\b(?:percentage|percent|pct)\b)\s*"
)


def without_unit(text: str) -> str:
    """The number of an amount or a measure (`\\$10.00`, `12\\text{ cm}^2`); anything else unchanged."""
    if found := _WITH_SIGN.match(text):
        return found.group(1) + found.group(2)
    if found := _WITH_UNIT.match(text):
        return found.group(1)
    return text


def asks_percentage(problem: str) -> bool:
    """Whether the problem asks for its answer as a percentage."""
    return "percent" in problem.lower() and _PERCENT_ASKED.search(problem) is not None


def number_of_percent(text: str) -> str:
    """`25\\%`, `25 percent` as `25`: the number of percent, for a problem that asks for a percentage."""
    return _PERCENT.sub(" ", text).strip()
