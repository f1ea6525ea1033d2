"""The `code_tests` check on real programs, run in the real sandbox."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample, Verdict
from cotfactory.filters.code_outcomes import process_failure
from cotfactory.filters.code_tests import CodeTestsCheck
from cotfactory.filters.runner import build_checks
from cotfactory.filters.sandbox import ProcessResult
from cotfactory.storage.code_problems import CodeTests

CHECK = CodeTestsCheck(time_limit_s=2.0, max_output_kb=64)

SUM_STDIO = CodeTests.model_validate(
    {
        "stdio": [
            {"input": "1 2\n", "output": "3\n"},
            {"input": "10 -4\n", "output": "6"},
            {"input": "0 0", "output": "0"},
        ]
    }
)
ADD_CALLS = CodeTests.model_validate(
    {"function": "add", "calls": [{"args": [1, 2], "expected": 3}, {"args": [[1], [2]], "expected": [1, 2]}]}
)
ADD_ASSERTS = CodeTests.model_validate({"asserts": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]})


def answer(program: str, tag: str = "python") -> str:
    code = textwrap.dedent(program).strip()
    return f"<think>\nLet me write it.\n</think>\nHere is my solution.\n```{tag}\n{code}\n```\n"


def check(program: str, tests: CodeTests, check: CodeTestsCheck = CHECK) -> Verdict:
    sample = Sample.from_completion(
        "a code problem", answer(program), domain="code", tests=tests.model_dump_json(exclude_defaults=True)
    )
    return check(sample)


@pytest.mark.parametrize(
    ("program", "tests", "reason", "score"),
    [
        ("a, b = map(int, input().split())\nprint(a + b)", SUM_STDIO, None, 1.0),
        ("a, b = map(int, input().split())\nprint(a - b)", SUM_STDIO, "tests_failed", 1 / 3),
        ("def add(a, b):\n    return a + b", ADD_CALLS, None, 1.0),
        ("class Solution:\n    def add(self, a, b):\n        return a + b", ADD_CALLS, None, 1.0),  # LeetCode
        ("def add(a, b):\n    return a + b + 1", ADD_CALLS, "tests_failed", 0.0),
        ("def add(a, b):\n    return a + b", ADD_ASSERTS, None, 1.0),
        ("def add(a, b):\n    return a * b", ADD_ASSERTS, "tests_failed", 0.0),
        ("def plus(a, b):\n    return a + b", ADD_CALLS, "runtime_error", 0.0),
        ("print(1 / 0)", SUM_STDIO, "runtime_error", 0.0),
        ("def add(a, b):\n    raise ValueError('no')", ADD_CALLS, "runtime_error", 0.0),
        ("def add(a, b) return a", ADD_ASSERTS, "runtime_error", 0.0),
    ],
)
def test_correct_and_wrong_programs(program: str, tests: CodeTests, reason: str | None, score: float) -> None:
    verdict = check(program, tests)
    assert (verdict.reason, verdict.score) == (reason, pytest.approx(score)), verdict


def test_the_first_failing_case_is_named() -> None:
    verdict = check("a, b = map(int, input().split())\nprint(a - b)", SUM_STDIO)
    assert verdict.detail == "test 1 of 3: input '1 2\\n': expected '3\\n', got '-1\\n'"
    verdict = check("def add(a, b):\n    return a + b + 1", ADD_CALLS)
    assert verdict.detail == "test 1 of 2: add(1, 2) returned 4, expected 3"
    verdict = check("def add(a, b):\n    return a * b", ADD_ASSERTS)
    assert verdict.detail == "test 1 of 2: assert add(1, 2) == 3 failed: the call returned 2"
    verdict = check("print(1 / 0)", SUM_STDIO)
    assert verdict.detail.startswith("test 1 of 3: exit code 1: Traceback") and "ZeroDivisionError" in verdict.detail


def test_a_program_reading_its_input_slowly_still_passes() -> None:
    numbers = " ".join(str(i) for i in range(20_000))
    tests = CodeTests.model_validate({"stdio": [{"input": numbers, "output": str(sum(range(20_000)))}]})
    program = """
        import sys
        total, digits = 0, ""
        while True:
            char = sys.stdin.read(1)  # one byte at a time
            if char.isdigit():
                digits += char
            elif digits:
                total, digits = total + int(digits), ""
            if not char:
                break
        print(total)
    """
    assert check(program, tests).passed


@pytest.mark.parametrize(
    ("program", "tests", "reason"),
    [
        ("while True:\n    pass", SUM_STDIO, "sandbox_timeout"),
        ("import time\ntime.sleep(30)", SUM_STDIO, "sandbox_timeout"),
        ("def add(a, b):\n    while True:\n        pass", ADD_CALLS, "sandbox_timeout"),
        ("def add(a, b):\n    import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True: pass",
         ADD_CALLS, "sandbox_timeout"),
        ("while True:\n    print('spam' * 100)", SUM_STDIO, "output_limit"),
        ("x = bytearray(4 << 30)", SUM_STDIO, "memory_exceeded"),
        ("def add(a, b):\n    return bytearray(4 << 30)", ADD_CALLS, "memory_exceeded"),
    ],
)  # fmt: skip
def test_programs_that_hit_a_limit(program: str, tests: CodeTests, reason: str) -> None:
    verdict = check(program, tests)
    assert verdict.reason == reason, verdict
    assert verdict.score == 0.0


def test_an_infinite_loop_costs_one_time_limit_not_one_per_case() -> None:
    verdict = check("while True:\n    pass", SUM_STDIO, CodeTestsCheck(time_limit_s=1.0))
    assert verdict.reason == "sandbox_timeout"
    assert verdict.detail.startswith("test 1 of 3: killed at the time limit")


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        ("<think>\nhmm\n</think>\nThe answer is to add them.", "no_code"),
        ("<think>\nhmm\n</think>\n```bash\necho 3\n```", "no_code"),  # another language's block
        ("<think>\n```python\nprint(3)\n```\n</think>\nSee above.", "no_code"),  # code only in the reasoning
        ("<think>\nhmm\n</think>\n```python\nprint(3)", "no_code"),  # an unclosed fence: truncated
    ],
)
def test_answers_without_a_program(completion: str, reason: str) -> None:
    sample = Sample.from_completion("p", completion, domain="code", tests=SUM_STDIO.model_dump_json())
    assert CHECK(sample).reason == reason


def test_prompts_without_tests() -> None:
    math = Sample.from_completion("p", "<think>x</think> 4", domain="math")
    code = Sample.from_completion("p", answer("print(1)"), domain="code")
    assert CHECK(math).passed and CHECK(math).score is None
    assert CHECK(code).reason == "no_tests"
    assert CodeTestsCheck(missing_tests="pass")(code).passed


def test_a_problem_time_limit_is_scaled_by_the_factor() -> None:
    tests = CodeTests.model_validate({"stdio": [{"input": "", "output": "done"}], "time_limit_s": 0.5})
    program = "import time\ntime.sleep(2)\nprint('done')"
    assert check(program, tests).reason == "sandbox_timeout"  # 0.5 s and the start-up allowance
    assert check(program, tests, CodeTestsCheck(time_limit_factor=4)).passed


@pytest.mark.parametrize("limit", [float("inf"), 1e9, float("nan"), -1.0, 0.0])
def test_whatever_time_limit_reaches_the_check_is_clamped(limit: float) -> None:
    """Stored before import checked them, or built in code: huge, infinite, NaN and negative limits."""
    tests = CodeTests.model_validate({"function": "f", "calls": [{"args": [], "expected": 1}], "time_limit_s": limit})
    clamped = CodeTestsCheck(max_time_limit_s=1.0)
    assert check("def f():\n    return 1", tests, clamped).passed
    verdict = check("def f():\n    while True:\n        pass", tests, clamped)
    assert verdict.reason == "sandbox_timeout", verdict
    sample = Sample.from_completion("p", answer("print(1)"), domain="code", tests=tests.model_dump_json())
    assert 0 < clamped.budget_s(sample) <= 1.0 + 1.0  # the capped case and the start-up allowance


def test_the_check_runs_from_a_check_list_in_worker_processes() -> None:
    programs = ["def add(a, b):\n    return a + b", "def add(a, b):\n    return a - b", "while True: pass"]
    samples = [
        Sample.from_completion("p", answer(p), domain="code", tests=ADD_CALLS.model_dump_json()) for p in programs
    ]
    with Chain(build_checks(["think_format", {"name": "code_tests", "time_limit_s": 1.0}]), workers=2) as runner:
        runner.setup({"code"})
        decisions = runner.run(samples)
    assert [d.reason for d in decisions] == [None, "tests_failed", "sandbox_timeout"]


def test_unsafe_local_exec_runs_the_tests_without_a_sandbox() -> None:
    unsafe = CodeTestsCheck(unsafe_local_exec=True, time_limit_s=1.0)
    assert check("a, b = map(int, input().split())\nprint(a + b)", SUM_STDIO, unsafe).passed
    assert check("while True: pass", SUM_STDIO, unsafe).reason == "sandbox_timeout"


@pytest.mark.realdata
def test_humaneval_canonical_solutions_pass_and_broken_ones_fail(shared_data: Path) -> None:
    """benchmarks/humaneval.py on the 164 real problems: its printed counts, asserted."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "humaneval.py"
    done = subprocess.run(
        [sys.executable, str(script), "--data", str(shared_data)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts = {
        line.split(":")[0].split("  ")[0].strip(): dict(
            (reason, int(n)) for n, reason in (part.split(" ", 1) for part in line.split(": ", 1)[1].split(", "))
        )
        for line in done.stdout.splitlines()
        if " programs: " in line
    }
    print(done.stdout)
    assert counts["canonical"] == {"passed": 164}
    assert counts["wrong return"].get("tests_failed", 0) >= 160 and "passed" not in counts["wrong return"]
    # Some literals do not matter to the result (a start index over a skipped element): those pass.
    assert counts["off by one"].get("tests_failed", 0) >= 100


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        (ProcessResult(0, b"", b"", 0.1, memory_killed=True), "memory"),  # a child killed at the slot's cap
        (ProcessResult(137, b"", b"", 0.1), "timeout"),  # SIGKILL at the CPU hard limit, through bubblewrap
        (ProcessResult(152, b"", b"", 0.1), "timeout"),  # SIGXCPU
        (ProcessResult(None, b"", b"", 5.0, timed_out=True), "timeout"),
        (ProcessResult(None, b"x" * 10, b"", 0.1, output_exceeded=True), "output"),
        (ProcessResult(1, b"", b"Traceback ...\nMemoryError\n", 0.1), "memory"),
        (ProcessResult(-11, b"", b"", 0.1), "error"),  # a crash, unsandboxed
        (ProcessResult(0, b"3\n", b"", 0.1), None),
    ],
)
def test_how_a_process_ended(result: ProcessResult, kind: str | None) -> None:
    failure = process_failure(result, 5.0)
    assert (failure.kind if failure else None) == kind


def test_tests_that_take_longer_than_the_runners_timeout_still_get_their_time() -> None:
    """Three stdin/stdout cases of 0.6 s each: past the runner's 1 s hard timeout, within the check's budget."""
    tests = CodeTests.model_validate({"stdio": [{"input": str(i), "output": str(i)} for i in range(3)]})
    program = "import time\ntime.sleep(0.6)\nprint(input())"
    sample = Sample.from_completion("p", answer(program), domain="code", tests=tests.model_dump_json())
    chain = build_checks([{"name": "code_tests", "time_limit_s": 1.0}])
    with Chain(chain, workers=1, timeout_s=1.0) as runner:
        (decision,) = runner.run([sample])
    assert decision.accepted, decision
