"""The cases the harness runs for assert and call problems, and how each returned value is judged outside.

An assert of the shape `assert f(<literals>) == <literal>` (MBPP's test lines; the statements of HumanEval's
`check(candidate)`) becomes a call case: the harness calls `f` and reports what it returned, and the expected
value, which never enters the sandbox, is compared here. So are `assert abs(f(...) - x) < tol`, `assert f(...)`,
`assert not f(...)` and `assert f(...) is True`. Any other assert runs inside, where a program that tampers
with the harness could fake it; a HumanEval `check` is converted only when every statement of it converts.
"""

import ast
from dataclasses import dataclass
from typing import Any, Literal

from cotfactory.filters.code_outcomes import same_value
from cotfactory.filters.sandbox.harness import DEEPER_THAN, typed, untyped
from cotfactory.storage.code_problems import CodeTests

Compare = Literal["json", "python", "is", "close_lt", "close_le", "truthy", "falsy"]


@dataclass(frozen=True)
class HarnessCase:
    """One case: a call of `function` with `args` (judged here), or an assert statement `code` run inside."""

    label: str
    function: str | None = None
    args: tuple[Any, ...] = ()
    expected: Any = None
    compare: Compare = "json"
    tolerance: float = 0.0
    code: str | None = None

    def message(self, index: int) -> dict[str, Any]:
        if self.code is not None:
            return {"index": index, "assert": self.code}
        return {"index": index, "call": self.function, "args": [typed(arg) for arg in self.args]}


class _Opaque:
    """A value the harness could only describe (its repr): equal to nothing, true or false as nothing is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _opaque(value: dict) -> _Opaque:
    inner = value.get("__repr__") if len(value) == 1 else None
    return _Opaque(inner[:300] if isinstance(inner, str) else repr(value)[:300])


def from_typed(value: Any) -> Any:
    """The harness's typed JSON back as Python values (the harness's own codec); anything else it reported,
    or a malformed tag, is opaque."""
    try:
        return untyped(value, _opaque)
    except (TypeError, ValueError, RecursionError) as error:
        return _Opaque(f"a malformed value ({type(error).__name__})")


def too_deep(value: Any) -> bool:
    """Whether a reported value holds the harness's mark of a part nested past its depth (walked without
    recursion: the value is the program's)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending += item
        elif isinstance(item, dict):
            text = item.get("__repr__")
            if isinstance(text, str) and text.startswith(DEEPER_THAN):
                return True
            pending += item.values()
    return False


def _json_shaped(value: Any) -> Any:
    """A Python value as JSON would hold it (tuples as lists), for problems whose expected values are JSON."""
    if isinstance(value, list | tuple):
        return [_json_shaped(item) for item in value]
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _json_shaped(item) for key, item in value.items()}
    return value


def passes(case: HarnessCase, reported: Any, *, wrapped: bool = False) -> bool:
    """Whether a call's reported value meets the case; decided here, never inside the sandbox."""
    got = from_typed(reported)
    if isinstance(got, _Opaque):
        return False
    try:
        if case.compare == "json":
            return same_value(_json_shaped(got), case.expected, wrapped=wrapped)
        if case.compare == "python":
            return bool(type(got) is not _Opaque and got == case.expected)
        if case.compare == "is":
            return got is case.expected
        if case.compare in ("close_lt", "close_le"):
            if isinstance(got, bool) or not isinstance(got, int | float):
                return False
            gap = abs(got - case.expected)
            return gap < case.tolerance if case.compare == "close_lt" else gap <= case.tolerance
        return bool(got) if case.compare == "truthy" else not got
    except Exception:  # a comparison of odd values that raises is a failed case
        return False


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _call(node: ast.expr, name: str | None) -> tuple[str, tuple[Any, ...]] | None:
    """(function, literal args) of `f(<literals>)`; with `name`, only a call of that name."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.keywords:
        return None
    if name is not None and node.func.id != name:
        return None
    args = []
    for arg in node.args:
        ok, value = _literal(arg) if not isinstance(arg, ast.Starred) else (False, None)
        if not ok:
            return None
        args.append(value)
    return node.func.id, tuple(args)


def _converted(test: ast.expr, name: str | None, label: str) -> HarnessCase | None:
    """The call case an assert's test expression is, or None when it has another shape."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, ast.Eq | ast.Is):
            for call_side, value_side in ((left, right), (right, left)):
                call, (ok, expected) = _call(call_side, name), _literal(value_side)
                if call is not None and ok and (isinstance(op, ast.Eq) or expected in (True, False, None)):
                    compare: Compare = "python" if isinstance(op, ast.Eq) else "is"
                    return HarnessCase(label, call[0], call[1], expected, compare)
        if isinstance(op, ast.Lt | ast.LtE) and isinstance(left, ast.Call) and isinstance(left.func, ast.Name):
            inner = left.args[0] if left.func.id == "abs" and len(left.args) == 1 else None
            ok, tolerance = _literal(right)
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub) and ok:
                call, (known, expected) = _call(inner.left, name), _literal(inner.right)
                numbers = isinstance(expected, int | float) and isinstance(tolerance, int | float)
                if call is not None and known and numbers:
                    compare = "close_lt" if isinstance(op, ast.Lt) else "close_le"
                    return HarnessCase(label, call[0], call[1], expected, compare, float(tolerance))
        return None
    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    call = _call(test.operand if negated else test, name)  # type: ignore[attr-defined]
    return HarnessCase(label, call[0], call[1], None, "falsy" if negated else "truthy") if call else None


def _ignorable(statement: ast.stmt) -> bool:
    """Statements of a check that test nothing: a docstring, `pass`, `assert True`."""
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True
    return (
        isinstance(statement, ast.Assert) and isinstance(statement.test, ast.Constant) and statement.test.value is True
    )


def _from_check(setup: str, entry_point: str) -> list[HarnessCase] | None:
    """HumanEval's `def check(candidate)`: a call case per statement, when every statement converts."""
    try:
        tree = ast.parse(setup)
    except (SyntaxError, ValueError):
        return None
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check" and len(n.args.args) == 1]
    if len(checks) != 1:
        return None
    candidate = checks[0].args.args[0].arg
    cases = []
    for statement in checks[0].body:
        if _ignorable(statement):
            continue
        if not isinstance(statement, ast.Assert):
            return None
        case = _converted(statement.test, candidate, ast.unparse(statement)[:300])
        if case is None:
            return None
        cases.append(HarnessCase(case.label, entry_point, case.args, case.expected, case.compare, case.tolerance))
    return cases or None


def harness_cases(tests: CodeTests) -> list[HarnessCase]:
    """The cases of an assert or call problem, in order, with as many as possible judged outside."""
    if tests.calls:
        return [HarnessCase(f"{tests.function}(...)", tests.function, tuple(c.args), c.expected) for c in tests.calls]
    if len(tests.asserts) == 1 and (entry := _check_call(tests.asserts[0])) is not None:
        converted = _from_check(tests.setup, entry)
        if converted is not None:
            return converted
    cases = []
    for code in tests.asserts:
        try:
            parsed = ast.parse(code)
        except (SyntaxError, ValueError):
            parsed = None
        single = parsed.body[0] if parsed is not None and len(parsed.body) == 1 else None
        case = _converted(single.test, None, code[:300]) if isinstance(single, ast.Assert) else None
        cases.append(case or HarnessCase(code[:300], code=code))
    return cases


def _check_call(code: str) -> str | None:
    """NAME of an assert line that is `check(NAME)` (HumanEval's)."""
    try:
        parsed = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    if len(parsed.body) == 1 and isinstance(parsed.body[0], ast.Expr):
        call = parsed.body[0].value
        named = isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check"
        if named and len(call.args) == 1 and isinstance(call.args[0], ast.Name) and not call.keywords:
            return call.args[0].id
    return None
