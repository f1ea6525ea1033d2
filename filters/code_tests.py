"""Code correctness: the program an answer ends with is run against the prompt's tests in the sandbox.

Stdin/stdout cases run one process each; assert and call cases run in one process through the harness, each
case under the time limit. Passes when every case passes; the score is the share of cases passed.
"""

import os
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.code_extract import last_program
from cotfactory.filters.code_outcomes import PASSED, REASON_OF, CaseOutcome, process_failure, same_output
from cotfactory.filters.harness_cases import HarnessCase, from_typed, harness_cases, passes, too_deep
from cotfactory.filters.harness_session import HarnessSession
from cotfactory.filters.sandbox import Limits, ProcessResult, Sandbox
from cotfactory.filters.sandbox.harness import MAX_DEPTH
from cotfactory.storage.code_problems import CodeTests

HARNESS = (Path(__file__).parent / "sandbox" / "harness.py").read_bytes()
START_UP_S = 1.0  # wall clock allowed on top of the test time for the sandbox and interpreter to start (~50 ms idle)


@lru_cache(maxsize=1024)
def _tests(spec: str) -> CodeTests:
    return CodeTests.model_validate_json(spec)


@lru_cache(maxsize=1024)
def _cases(spec: str) -> tuple[HarnessCase, ...]:
    return tuple(harness_cases(_tests(spec)))


def _case_count(spec: str) -> int:
    tests = _tests(spec)
    return len(tests.stdio) if tests.stdio else len(_cases(spec))


def _source(text: str) -> bytes:
    # model-written text may hold lone surrogates: they reach the program as (invalid) bytes, never an exception
    return text.encode("utf-8", "surrogatepass")


@cache
def _ready(sandbox: Sandbox) -> None:
    """Probe the sandbox once per process; a machine where it cannot work fails here, loudly, every time."""
    sandbox.check_available()


@register(
    "code_tests",
    reasons=("tests_failed", "runtime_error", "sandbox_timeout", "memory_exceeded", "output_limit", "no_code",
             "no_tests"),
    cost="expensive",
)  # fmt: skip
@dataclass(frozen=True)
class CodeTestsCheck:
    """The last fenced Python block of the answer passes every test of the prompt, run in the sandbox.
    Prompts without tests pass untouched unless they are code prompts (`missing_tests`)."""

    language: Literal["python"] = "python"
    time_limit_s: float = 4.0  # per test, when the problem names none
    time_limit_factor: float = 1.0  # scales the problem's own limits (contest limits are set for C++)
    max_time_limit_s: float = 60.0  # per test: any limit past it (a problem's, scaled) is clamped to it
    memory_mb: int = 512
    max_processes: int = 64
    max_output_kb: int = 1024
    stop_at_first_failure: bool = False  # stdin/stdout cases: skip the rest after one fails (the score drops)
    slots: int | None = None  # programs running at once on this machine; default: the number of cores
    unsafe_local_exec: bool = False
    python: str = "/usr/bin/python3"
    missing_tests: Literal["reject", "pass"] = "reject"

    @property
    def sandbox(self) -> Sandbox:
        return Sandbox(self.python, self.slots or os.cpu_count() or 1, self.unsafe_local_exec)

    def setup(self, domains: Collection[str]) -> None:
        """Before a run: build the sandbox if any prompt is a code prompt (SandboxUnavailable if it cannot)."""
        if "code" in domains:
            self.sandbox.check_available()  # not the cached probe: the machine may have changed since

    def budget_s(self, sample: Sample) -> float:
        """The wall clock this check may take on `sample` (the check runner adds it to its hard timeout)."""
        if sample.tests is None:
            return 0.0
        tests = _tests(sample.tests)
        runs = len(tests.stdio) if tests.stdio else 1
        return runs * self._limits(tests, 1 if tests.stdio else _case_count(sample.tests)).wall_s

    def _per_case_s(self, tests: CodeTests) -> float:
        """The problem's own limit, scaled by the factor; else the check's default. Clamped to
        `max_time_limit_s`, whatever reaches it (huge, infinite, negative or NaN: the default, or the cap)."""
        limit = self.time_limit_s
        if tests.time_limit_s is not None and tests.time_limit_s > 0:  # False for NaN
            limit = tests.time_limit_s * self.time_limit_factor
        return limit if 0 < limit <= self.max_time_limit_s else min(self.max_time_limit_s, self.time_limit_s)

    def _limits(self, tests: CodeTests, cases: int) -> Limits:
        per_case = self._per_case_s(tests)
        return Limits(
            wall_s=per_case * cases + START_UP_S,
            cpu_s=per_case * cases + 1,
            memory_mb=self.memory_mb,
            processes=self.max_processes,
            output_bytes=self.max_output_kb * 1024,
        )

    def __call__(self, sample: Sample) -> Verdict:
        if sample.tests is None:
            if sample.domain != "code" or self.missing_tests == "pass":
                return passed()
            return failed("no_tests")
        tests = _tests(sample.tests)
        program = last_program(sample.answer, self.language)
        if program is None:
            return failed("no_code", 0.0)
        _ready(self.sandbox)
        if tests.stdio:
            outcomes = self._run_stdio(program, tests)
        else:
            outcomes = self._run_harness(program, tests, _cases(sample.tests))
        return _verdict(_case_count(sample.tests), outcomes)

    def _run_stdio(self, program: str, tests: CodeTests) -> list[CaseOutcome]:
        limits = self._limits(tests, 1)
        outcomes: list[CaseOutcome] = []
        for case in tests.stdio:
            result = self.sandbox.run(
                {"main.py": _source(program)}, "main.py", stdin=_source(case.input), limits=limits
            )
            outcome = process_failure(result, limits.wall_s)
            if outcome is None:
                got = result.stdout.decode(errors="replace")
                outcome = (
                    PASSED
                    if same_output(got, case.output)
                    else CaseOutcome("fail", _mismatch(case.input, case.output, got))
                )
            outcomes.append(outcome)
            # A case that hit a limit costs the whole limit: the rest are not worth it.
            if outcome.kind in ("timeout", "memory", "output") or (
                outcome.kind != "pass" and self.stop_at_first_failure
            ):
                break
        return outcomes

    def _run_harness(self, program: str, tests: CodeTests, cases: tuple[HarnessCase, ...]) -> list[CaseOutcome]:
        per_case = self._per_case_s(tests)
        limits = self._limits(tests, len(cases))
        session = HarnessSession(cases, tests.setup, per_case, START_UP_S)
        files = {"main.py": _source(program), "harness.py": HARNESS}
        result = self.sandbox.run(files, "harness.py", limits=limits, conversation=session)
        if result.timed_out:
            session.timed_out()
        if session.problem is not None:
            return [CaseOutcome("fail", f"the test report does not add up: {session.problem}")]
        if session.stage_failure is not None:
            stage, kind, detail = session.stage_failure
            what = "loading the program" if stage == "load" else "the tests' setup"
            return [CaseOutcome(kind if kind != "fail" else "error", f"{what}: {detail}")]  # type: ignore[arg-type]
        outcomes = [
            _judged(case, kind, value, tests.expected_wrapped)
            for case, (kind, value) in zip(cases, session.answers, strict=False)
        ]
        if len(outcomes) < len(cases):  # the run ended before every case was answered
            outcomes.append(_unanswered(session, result, per_case, limits.wall_s))
        return outcomes


def _unanswered(session: HarnessSession, result: ProcessResult, per_case: float, wall_s: float) -> CaseOutcome:
    """Why the case (or stage) awaited when the run ended got no answer."""
    failure = process_failure(result, wall_s)
    if failure is not None and failure.kind in ("output", "memory"):
        return failure
    if session.late is not None:
        what = {"load": "loading the program", "setup": "the tests' setup"}.get(str(session.late), "the case")
        return CaseOutcome("timeout", f"{what} gave no answer within {per_case:g}s (timed outside the program)")
    return failure or CaseOutcome("error", "the program ended the test run")


def _judged(case: HarnessCase, kind: str, value: Any, wrapped: bool) -> CaseOutcome:
    """The case's outcome; a reported value that breaks its judging (the program chose it) fails the case."""
    try:
        return _harness_outcome(case, kind, value, wrapped)
    except Exception as error:
        return CaseOutcome("fail", f"{case.label}: the reported value could not be judged ({type(error).__name__})")


def _harness_outcome(case: HarnessCase, kind: str, value: Any, wrapped: bool) -> CaseOutcome:
    """One case as the harness reported it; a call's returned value is judged here, outside the sandbox."""
    if kind != "pass":
        detail = f"{case.label} failed{': ' + str(value) if value else ''}" if kind == "fail" else str(value)
        return CaseOutcome(kind, detail[:500])  # type: ignore[arg-type]
    if case.code is not None or passes(case, value, wrapped=wrapped):
        return PASSED
    if too_deep(value):
        return CaseOutcome("fail", f"{case.label} failed: it returned a value nested deeper than {MAX_DEPTH} levels")
    got = repr(from_typed(value))[:200]
    if case.compare != "json":  # an assert of the problem's, judged out here
        return CaseOutcome("fail", f"{case.label} failed: the call returned {got}")
    arguments = ", ".join(map(repr, case.args))[:200]
    return CaseOutcome("fail", f"{case.function}({arguments}) returned {got}, expected {case.expected!r:.200}")


def _mismatch(given: str, expected: str, got: str) -> str:
    return f"input {given[:200]!r}: expected {expected[:200]!r}, got {got[:200]!r}"


def _verdict(total: int, outcomes: list[CaseOutcome]) -> Verdict:
    passed_cases = sum(outcome.kind == "pass" for outcome in outcomes)
    if passed_cases == total:
        return passed(1.0, f"{total}/{total} tests passed")
    index, first = next((i, o) for i, o in enumerate(outcomes) if o.kind != "pass")
    return failed(REASON_OF[first.kind], passed_cases / total, f"test {index + 1} of {total}: {first.detail}"[:1000])
