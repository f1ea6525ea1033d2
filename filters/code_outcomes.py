"""What one test case of a program came to, read from the sandbox's result: passed, a wrong result, or how
the program failed; and the comparison of outputs and return values with the expected ones."""

import decimal
import math
import re
import signal
from dataclasses import dataclass
from typing import Any, Literal

from cotfactory.filters.sandbox import ProcessResult

Kind = Literal["pass", "fail", "error", "timeout", "memory", "output"]

REASON_OF: dict[str, str] = {
    "fail": "tests_failed",
    "error": "runtime_error",
    "timeout": "sandbox_timeout",
    "memory": "memory_exceeded",
    "output": "output_limit",
}


@dataclass(frozen=True)
class CaseOutcome:
    kind: Kind
    detail: str = ""


PASSED = CaseOutcome("pass")


def _signal_of(result: ProcessResult) -> int | None:
    # bubblewrap reports a program killed by a signal as exit code 128 + signal; a plain process, as -signal
    if result.signal is not None:
        return result.signal
    code = result.returncode
    return code - 128 if code is not None and code > 128 else None


def process_failure(result: ProcessResult, wall_s: float) -> CaseOutcome | None:
    """How the process failed (killed at a limit, out of memory, crashed); None when it exited cleanly."""
    if result.output_exceeded:
        return CaseOutcome("output", f"more than {len(result.stdout) + len(result.stderr):,} bytes of output")
    if result.memory_killed:
        return CaseOutcome("memory", "killed at the memory limit of all its processes together")
    killed = _signal_of(result)
    if result.timed_out or killed in (signal.SIGXCPU, signal.SIGKILL):
        return CaseOutcome("timeout", f"killed at the time limit ({wall_s:g}s wall, CPU limit)")
    errors = result.stderr.decode(errors="replace").strip()
    last = errors.splitlines()[-1] if errors else ""
    if "MemoryError" in last or "Cannot allocate memory" in errors:
        return CaseOutcome("memory", last[-300:])
    if result.returncode != 0:
        what = f"killed by signal {killed}" if killed else f"exit code {result.returncode}"
        return CaseOutcome("error", f"{what}: {errors[-500:]}" if errors else what)
    return None


# Numbers as judges read them: ASCII digits only (a fullwidth digit is not a digit). No two quantifiers of the
# decimal pattern can take the same digit, so a match is linear in the token, however long.
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
FLOAT_TOLERANCE = 1e-6  # relative or absolute, as CodeContests' checkers allow for real-valued answers
# Real numbers of any size compared in decimal: no overflow to infinity, no exception, time linear in the token.
_REALS = decimal.Context(prec=40, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[])
_TOLERANCE = decimal.Decimal(FLOAT_TOLERANCE)


def _digits(token: str) -> tuple[bool, str]:
    """An integer token as (negative, digits without leading zeros): any length, never through int()."""
    digits = token.lstrip("+-").lstrip("0") or "0"
    return token.startswith("-") and digits != "0", digits


def _close(got: str, expected: str) -> bool:
    a, b = _REALS.create_decimal(got), _REALS.create_decimal(expected)
    if not (a.is_finite() and b.is_finite()):  # past even decimal's exponent range: only the same text is equal
        return False
    gap = _REALS.abs(_REALS.subtract(a, b))
    return gap <= _TOLERANCE or gap <= _REALS.multiply(_TOLERANCE, _REALS.max_mag(a, b).copy_abs())


def _tokens_match(got: str, expected: str) -> bool:
    """Equal tokens; an integer token only as the same integer; a token written with a decimal point or an
    exponent (the expected one) as a number within FLOAT_TOLERANCE."""
    if got == expected:
        return True
    if _INTEGER.fullmatch(expected):
        return _INTEGER.fullmatch(got) is not None and _digits(got) == _digits(expected)
    if _DECIMAL.fullmatch(expected) and _DECIMAL.fullmatch(got):
        return _close(got, expected)
    return False


def same_output(got: str, expected: str) -> bool:
    """Whitespace-separated tokens equal (the usual judges' rule); integers exactly, real numbers within
    FLOAT_TOLERANCE where the expected token is written as one."""
    got_tokens, expected_tokens = got.split(), expected.split()
    return len(got_tokens) == len(expected_tokens) and all(map(_tokens_match, got_tokens, expected_tokens))


def same_value(got: Any, expected: Any, *, wrapped: bool = False) -> bool:
    """A returned value (as JSON) equals the expected one: integers exactly, floats within FLOAT_TOLERANCE
    where the expected value is a float, lists element by element. `wrapped`: the problem's expected values
    may be wrapped in a one-element list (APPS's call problems, whose own judge accepts both forms)."""

    def equal(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b
        if isinstance(b, float) and isinstance(a, int | float):
            return math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
        if isinstance(b, int) and isinstance(a, int | float):
            return a == b  # exact, for a float too: 2880067194370824704.0 is not 2880067194370816120
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(map(equal, a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(equal(a[key], b[key]) for key in a)
        return type(a) is type(b) and bool(a == b)

    if equal(got, expected):
        return True
    return wrapped and isinstance(expected, list) and len(expected) == 1 and equal(got, expected[0])
