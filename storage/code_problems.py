"""Code problems: the tests a program must pass, read from the common dataset shapes into one `CodeTests`.

- stdin/stdout pairs: APPS/TACO `input_output` (without `fn_name`), CodeContests `public_tests`,
  `private_tests` and `generated_tests`, open-r1 `verification_info.test_cases`;
- function calls: APPS/TACO `input_output` with `fn_name` (LeetCode style);
- asserts: HumanEval `test` (defines `check(candidate)`) with `entry_point`, MBPP `test_list`;
- our own `tests` object, as stored.
A `time_limit` field (seconds, "2 seconds", or CodeContests' `{seconds, nanos}`) sets the limit per test.
A `starter_code` (TACO, APPS, LiveCodeBench: the signature to complete) is shown to the model with the problem.
"""

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class StdioCase(BaseModel):
    """Feed `input` on stdin; the program must print `output`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: str
    output: str


class CallCase(BaseModel):
    """Call the function with `args`; it must return `expected`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    args: list[Any]
    expected: Any


class CodeTests(BaseModel):
    """The tests of one code problem: exactly one of `stdio`, `asserts` or `calls`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    stdio: list[StdioCase] = Field(default_factory=list)
    asserts: list[str] = Field(default_factory=list)  # each a statement run after the program and `setup`
    setup: str = ""  # code run once before the asserts (HumanEval's `check` definition, MBPP's setup)
    function: str | None = None  # the function `calls` call
    calls: list[CallCase] = Field(default_factory=list)
    # APPS stores a call's expected value wrapped in a one-element list, and its judge accepts both forms
    expected_wrapped: bool = False
    # per test; a spec read back by the checker may hold any float (it clamps), import holds it to MAX_TIME_LIMIT_S
    time_limit_s: float | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "CodeTests":
        kinds = [name for name in ("stdio", "asserts", "calls") if getattr(self, name)]
        if len(kinds) != 1:
            raise ValueError(f"needs exactly one of stdio, asserts, calls with cases (got {kinds or 'none'})")
        if self.calls and not self.function:
            raise ValueError("calls need `function`, the name of the function to call")
        return self

    @property
    def count(self) -> int:
        return len(self.stdio) or len(self.asserts) or len(self.calls)


class CodeTestsError(ValueError):
    """A row's tests are unreadable; the message names the field."""


MAX_TIME_LIMIT_S = 300.0  # per test: a limit past it is a broken row, not a problem's (contests set 1-15 s)


def checked_time_limit(seconds: float | None, field: str) -> float | None:
    """A time limit as import accepts it: a finite number of seconds in (0, MAX_TIME_LIMIT_S]."""
    if seconds is None:
        return None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIME_LIMIT_S):
        raise CodeTestsError(
            f"field {field!r}: {seconds!r} is no time limit (a number of seconds over 0 and at most "
            f"{MAX_TIME_LIMIT_S:g})"
        )
    return seconds


TEST_FIELDS = ("tests", "input_output", "public_tests", "private_tests", "generated_tests", "verification_info",
               "test", "entry_point", "test_list", "test_setup_code", "challenge_test_list", "time_limit")  # fmt: skip


def _decoded(value: Any, field: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise CodeTestsError(f"field {field!r} is not valid JSON: {error}") from None
    return value


def _text(value: Any) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _stdio(inputs: list[Any], outputs: list[Any], field: str) -> list[dict[str, str]]:
    if len(inputs) != len(outputs):
        raise CodeTestsError(f"field {field!r}: {len(inputs)} inputs but {len(outputs)} outputs")
    return [{"input": _text(given), "output": _text(wanted)} for given, wanted in zip(inputs, outputs, strict=True)]


def _time_limit(value: Any) -> float | None:
    """Seconds from a `time_limit` field (0 or empty: none given)."""
    if value is None:
        return None
    try:
        if isinstance(value, dict):  # CodeContests: {"seconds": 2, "nanos": 500000000}
            seconds = float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif match := re.match(r"^\s*(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)?\s*$", str(value)):
            seconds = float(match.group(1))
        else:
            raise ValueError
    except (ValueError, TypeError, OverflowError):
        raise CodeTestsError(f"field 'time_limit' is not a number of seconds: {str(value)[:100]!r}") from None
    return checked_time_limit(seconds, "time_limit") if seconds != 0 else None


def _from_input_output(value: Any) -> dict[str, Any]:
    spec = _decoded(value, "input_output")
    if not isinstance(spec, dict) or "inputs" not in spec or "outputs" not in spec:
        raise CodeTestsError("field 'input_output' needs `inputs` and `outputs` lists")
    if spec.get("fn_name"):
        if len(spec["inputs"]) != len(spec["outputs"]):
            raise CodeTestsError("field 'input_output': inputs and outputs differ in length")
        if not all(isinstance(args, list) for args in spec["inputs"]):
            raise CodeTestsError("field 'input_output': with `fn_name`, each input is a list of arguments")
        pairs = zip(spec["inputs"], spec["outputs"], strict=True)
        calls = [{"args": list(args), "expected": expected} for args, expected in pairs]
        return {"function": spec["fn_name"], "calls": calls, "expected_wrapped": True}
    return {"stdio": _stdio(spec["inputs"], spec["outputs"], "input_output")}


def _from_code_contests(fields: dict[str, Any]) -> dict[str, Any]:
    cases = []
    for name in ("public_tests", "private_tests", "generated_tests"):
        group = _decoded(fields.get(name), name) or {}
        cases += _stdio(list(group.get("input") or []), list(group.get("output") or []), name)
    return {"stdio": cases}


def _from_verification_info(value: Any) -> dict[str, Any]:
    spec = _decoded(value, "verification_info")
    cases = spec.get("test_cases") if isinstance(spec, dict) else None
    if not isinstance(cases, list):
        raise CodeTestsError("field 'verification_info' has no `test_cases` list")
    kinds = {case.get("type", "stdin_stdout") for case in cases}
    if kinds != {"stdin_stdout"}:
        raise CodeTestsError(f"field 'verification_info': only stdin_stdout test cases are supported, got {kinds}")
    return {"stdio": _stdio([c["input"] for c in cases], [c["output"] for c in cases], "verification_info")}


def tests_from_fields(fields: dict[str, Any]) -> CodeTests | None:
    """The tests a prompt row carries, in whichever known shape; None when it has none."""
    if fields.get("tests") is not None and not isinstance(fields["tests"], list):
        spec = dict(_decoded(fields["tests"], "tests"))
    elif fields.get("input_output") is not None:
        spec = _from_input_output(fields["input_output"])
    elif any(fields.get(name) for name in ("public_tests", "private_tests", "generated_tests")):
        spec = _from_code_contests(fields)
    elif fields.get("verification_info") is not None:
        spec = _from_verification_info(fields["verification_info"])
    elif fields.get("test") and fields.get("entry_point"):
        spec = {"setup": fields["test"], "asserts": [f"check({fields['entry_point']})"]}
    elif fields.get("test_list"):
        asserts = list(fields["test_list"]) + list(fields.get("challenge_test_list") or [])
        spec = {"setup": fields.get("test_setup_code") or "", "asserts": asserts}
    else:
        return None
    if "time_limit" in fields and "time_limit_s" not in spec:
        spec["time_limit_s"] = _time_limit(fields["time_limit"])
    try:
        tests = CodeTests.model_validate(spec)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise CodeTestsError(f"tests{'.' + where if where else ''}: {problem['msg']}") from None
    checked_time_limit(tests.time_limit_s, "tests.time_limit_s")
    return tests


def with_starter_code(problem: str, fields: dict[str, Any]) -> str:
    """The problem as the model must see it: with the row's starter code, which names the function the tests
    call, unless the problem already shows it."""
    starter = fields.get("starter_code")
    if not isinstance(starter, str) or not starter.strip() or starter.strip() in problem:
        return problem
    return f"{problem.rstrip()}\n\nUse this starter code:\n```python\n{starter.strip()}\n```"
