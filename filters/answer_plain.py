"""Math typed as plain text or code (`sqrt(3)`, `2**(1/4)`, `2^(1/4)`, `pi`, `exp(2)`, `log(2)`, `3sqrt(2)`,
`2x + 1`), read as graders that call sympy's parser read it: `^` is a power, a product may be implicit, `pi` and
`e` are the constants, `log` and `ln` the natural logarithm.

Only text of digits, ASCII letters, spaces and `+ - * / ^ ( ) . ,` is read, with no name that sympy would look up
beyond the functions and constants listed here (every other name is a symbol), so a model's text cannot reach
Python; expressions are built unevaluated (`9**9**9` is not computed here) and compared under math-verify's
timeout.
"""

import re
from functools import lru_cache
from typing import Any

_PLAIN = re.compile(r"^[0-9A-Za-z +\-*/^().,]{1,200}$")
_ATTRIBUTE = re.compile(r"[A-Za-z_)]\s*\.|\.\s*[A-Za-z_(]")  # `x.real`, `().__class__`: attribute access
_NAME = re.compile(r"[A-Za-z]+")
# Marks of plain-text math that LaTeX would not write: only text with one of them is read here.
_PLAIN_MARK = re.compile(
    r"\*\*|\^\s*\(|(?<![A-Za-z])(?:sqrt|exp|log|ln|pi|asin|acos|atan|arcsin|arccos|arctan)(?![A-Za-z])|\d\s*\*"
)
_FUNCTIONS = {
    "sqrt": "sqrt", "exp": "exp", "log": "log", "ln": "log", "sin": "sin", "cos": "cos", "tan": "tan",
    "cot": "cot", "sec": "sec", "csc": "csc", "asin": "asin", "acos": "acos", "atan": "atan", "arcsin": "asin",
    "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "abs": "Abs",
}  # fmt: skip


@lru_cache(maxsize=1)
def _namespace() -> tuple[dict[str, Any], tuple[Any, ...]]:
    import sympy
    from sympy.parsing import sympy_parser as parser

    names: dict[str, Any] = {"__builtins__": {}}
    for name in ("Integer", "Float", "Rational", "Symbol", "Function", "Mul", "Add", "Pow"):
        names[name] = getattr(sympy, name)
    names.update({written: getattr(sympy, function) for written, function in _FUNCTIONS.items()})
    names.update({"pi": sympy.pi, "e": sympy.E, "E": sympy.E})
    transformations = (
        *parser.standard_transformations,
        parser.convert_xor,
        parser.implicit_multiplication_application,
    )
    return names, transformations


def is_plain(text: str) -> bool:
    """Whether `text` is plain-text math with a mark LaTeX would not write (`**`, `sqrt(`, `pi`, ...)."""
    return bool(_PLAIN.match(text)) and not _ATTRIBUTE.search(text) and bool(_PLAIN_MARK.search(text))


def plain_value(text: str) -> Any | None:
    """The sympy expression plain-text math stands for; None for anything else or what sympy cannot read."""
    text = text.strip()
    if not is_plain(text) or "," in text:
        return None
    names, transformations = _namespace()
    for name in _NAME.findall(text):
        if name not in names and len(name) > 1 and name.lower() in ("lambda", "import", "exec", "eval", "open"):
            return None
    from sympy.parsing.sympy_parser import parse_expr

    try:
        return parse_expr(text, {}, transformations, dict(names), evaluate=False)
    except Exception:  # sympy's parser raises many types (SyntaxError, TokenError, TypeError...) on bad input
        return None


def with_symbols_of(expression: Any, others: list[Any]) -> Any:
    """`expression` with each symbol replaced by the same-named symbol of `others` (math-verify's symbols carry
    assumptions, such as real, that the parser's do not)."""
    import sympy

    named = {
        symbol.name: symbol
        for other in others
        if isinstance(other, sympy.Basic)
        for symbol in other.free_symbols
        if isinstance(symbol, sympy.Symbol)
    }
    swaps = {symbol: named[symbol.name] for symbol in expression.free_symbols if symbol.name in named}
    return expression.xreplace(swaps) if swaps else expression
