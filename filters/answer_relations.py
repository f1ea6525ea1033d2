"""Equalities math-verify misses between two parsed answers, tried only after it said no:

- an equation whose left side names the same function differently: `y = 2x + 3` for `f(x) = 2x + 3` (at least
  one side is a function of its variables, and neither left side occurs on its right side; `x = 5` and `y = 5`
  stay different unknowns);
- complex numbers written with `i`: math-verify reads `i` as a variable, so `i(2 - i)` was not `1 + 2i`; where
  `i` is the only symbol of both answers it is the imaginary unit;
- a decimal approximation of a closed form (`1.414` for `\\sqrt2`, `2.3148\\times10^{-3}` for `1/432`), in either
  answer: accepted when it has at least `min_digits` significant digits and is the exact value rounded or cut
  to its last digit, or (a `tolerance` above 0) within that relative tolerance of it. Exact values with a
  finite decimal expansion (`1/4`, `3`) must be given exactly.
"""

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import sympy
from sympy.core.function import AppliedUndef

_DECIMAL = re.compile(
    r"^\s*(?:\\approx|≈)?\s*([-+]?)(\d*)\.?(\d*)\s*"
    r"(?:(?:\\times|\\cdot|\*|×)\s*10\s*\^\s*\{?\s*([-+−]?\d+)\s*\}?|[eE]([-+]?\d+))?\s*$"
)


def _named(side: Any) -> bool:
    """A left side that only names a value: `y`, or `f(x)` of variables."""
    if isinstance(side, sympy.Symbol):
        return True
    return isinstance(side, AppliedUndef) and all(isinstance(arg, sympy.Symbol) for arg in side.args)


def _names_itself(equation: sympy.Eq) -> bool:
    lhs, rhs = equation.lhs, equation.rhs
    if isinstance(lhs, sympy.Symbol):
        return lhs in rhs.free_symbols
    return lhs.func in {f.func for f in rhs.atoms(AppliedUndef)}


def same_function_named_differently(gold: Any, prediction: Any) -> tuple[Any, Any] | None:
    """The right sides to compare when both answers define one function under two names; else None."""
    if not (isinstance(gold, sympy.Eq) and isinstance(prediction, sympy.Eq)):
        return None
    if not (_named(gold.lhs) and _named(prediction.lhs)) or gold.lhs == prediction.lhs:
        return None
    if not (isinstance(gold.lhs, AppliedUndef) or isinstance(prediction.lhs, AppliedUndef)):
        return None
    if _names_itself(gold) or _names_itself(prediction):
        return None
    return gold.rhs, prediction.rhs


def with_imaginary_unit(gold: Any, prediction: Any) -> tuple[Any, Any] | None:
    """Both answers with `i` as the imaginary unit, when `i` is the only symbol either holds; else None."""
    if not (isinstance(gold, sympy.Expr) and isinstance(prediction, sympy.Expr)):
        return None
    symbols = gold.free_symbols | prediction.free_symbols
    if {symbol.name for symbol in symbols} != {"i"}:  # math-verify's `i` carries assumptions: match by name
        return None
    units = {symbol: sympy.I for symbol in symbols}
    return gold.subs(units), prediction.subs(units)


def _terminates(value: sympy.Rational) -> bool:
    denominator = int(value.q)
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


def approximates(exact: Any, written: str, min_digits: int, tolerance: float = 0.0) -> str | None:
    """How `written` approximates `exact` (`4 significant digits`), or None when it is no decimal, has fewer
    than `min_digits` significant digits, is neither `exact` rounded or cut to its last digit nor within the
    relative `tolerance` of it, or `exact` has a finite decimal expansion (then only the exact value is
    right)."""
    found = _DECIMAL.match(written)
    if not found or not isinstance(exact, sympy.Expr) or not exact.is_number or isinstance(exact, sympy.Float):
        return None
    sign, whole, fraction, power_tex, power_e = found.groups()
    digits = (whole + fraction).lstrip("0")
    if not (whole or fraction) or len(digits) < min_digits:
        return None
    if exact.is_Rational and _terminates(exact):
        return None
    try:
        value = complex(exact.evalf(40))
    except (TypeError, ValueError):
        return None
    if value.imag:
        return None
    power = int((power_tex or power_e or "0").replace("−", "-"))
    with localcontext() as context:
        context.prec = 60
        mantissa = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
        scaled = Decimal(str(sympy.N(exact, 50))) / Decimal(10) ** power
        last_digit = Decimal(1).scaleb(-len(fraction))
        if mantissa not in {scaled.quantize(last_digit, rounding) for rounding in (ROUND_HALF_UP, ROUND_DOWN)}:
            if not tolerance or abs(mantissa - scaled) > Decimal(str(tolerance)) * abs(scaled):
                return None
            return f"{len(digits)} significant digits, within {tolerance:g}"
    return f"{len(digits)} significant digits"
