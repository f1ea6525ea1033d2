"""Code correctness: the program an answer ends with is run against the prompt's tests in the sandbox.

Stdin/stdout cases run one process each; assert and call cases run in one process through the harness, each
case under the time limit. Passes when every case passes; the score is the share of cases passed.
"""

import json
import os
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.code_extract import last_program
from cotfactory.filters.code_outcomes import PASSED, REASON_OF, CaseOutcome, process_failure, same_output, same_value
from cotfactory.filters.sandbox import Limits, Sandbox
from cotfactory.storage.code_problems import CodeTests

HARNESS = (Path(__file__).parent / "sandbox" / "harness.py").read_bytes()
START_UP_S = 1.0  # wall clock allowed on top of the test time for the sandbox and interpreter to start (~50 ms idle)


@lru_cache(maxsize=1024)
def _tests(spec: str) -> CodeTests:
    return CodeTests.model_validate_json(spec)


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
        runs = tests.count if tests.stdio else 1
        return runs * self._limits(tests, 1 if tests.stdio else tests.count).wall_s

    def _per_case_s(self, tests: CodeTests) -> float:
        """The problem's own limit, scaled by the factor; else the check's default."""
        return tests.time_limit_s * self.time_limit_factor if tests.time_limit_s else self.time_limit_s

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
        outcomes = self._run_stdio(program, tests) if tests.stdio else self._run_harness(program, tests)
        return _verdict(tests, outcomes)

    def _run_stdio(self, program: str, tests: CodeTests) -> list[CaseOutcome]:
        limits = self._limits(tests, 1)
        outcomes: list[CaseOutcome] = []
        for case in tests.stdio:
            result = self.sandbox.run(
                {"main.py": program.encode()}, "main.py", stdin=case.input.encode(), limits=limits
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

    def _run_harness(self, program: str, tests: CodeTests) -> list[CaseOutcome]:
        limits = self._limits(tests, tests.count)
        per_case = self._per_case_s(tests)
        nonce = secrets.token_hex(12)
        cases = {"time_limit_s": per_case, "setup": tests.setup, "asserts": tests.asserts, "function": tests.function,
                 "calls": [call.args for call in tests.calls]}  # fmt: skip
        files = {"main.py": program.encode(), "harness.py": HARNESS, "cases.json": json.dumps(cases).encode()}
        result = self.sandbox.run(files, "harness.py", [nonce], limits=limits)
        reports = [line for line in result.stdout.decode(errors="replace").splitlines() if line.startswith(nonce)]
        if not reports:
            failure = process_failure(result, limits.wall_s) or CaseOutcome("error", "the program ended the test run")
            return [failure]
        entries = json.loads(reports[-1][len(nonce) :])
        if entries and entries[0][0] in ("load", "setup"):
            stage, kind, detail = entries[0]
            what = "loading the program" if stage == "load" else "the tests' setup"
            return [CaseOutcome(kind if kind != "fail" else "error", f"{what}: {detail}")]
        return [_harness_outcome(tests, index, kind, detail) for index, (kind, detail) in enumerate(entries)]


def _harness_outcome(tests: CodeTests, index: int, kind: str, detail: object) -> CaseOutcome:
    """One case as the harness reported it; a call's returned value is compared here, outside the sandbox."""
    if tests.calls:
        call = tests.calls[index]
        if kind == "pass" and not same_value(detail, call.expected):
            arguments = ", ".join(map(repr, call.args))
            return CaseOutcome(
                "fail", f"{tests.function}({arguments}) returned {detail!r}, expected {call.expected!r}"
            )
    elif kind == "fail":
        detail = f"{tests.asserts[index][:300]} failed{': ' + str(detail) if detail else ''}"
    return PASSED if kind == "pass" else CaseOutcome(kind, str(detail)[:500])  # type: ignore[arg-type]


def _mismatch(given: str, expected: str, got: str) -> str:
    return f"input {given[:200]!r}: expected {expected[:200]!r}, got {got[:200]!r}"


def _verdict(tests: CodeTests, outcomes: list[CaseOutcome]) -> Verdict:
    total = tests.count
    passed_cases = sum(outcome.kind == "pass" for outcome in outcomes)
    if passed_cases == total:
        return passed(1.0, f"{total}/{total} tests passed")
    index, first = next((i, o) for i, o in enumerate(outcomes) if o.kind != "pass")
    return failed(REASON_OF[first.kind], passed_cases / total, f"test {index + 1} of {total}: {first.detail}"[:1000])
