"""Code problems: the dataset shapes their tests come in, the stored `tests` column, and extraction of the
program an answer ends with."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

from cotfactory.filters.code_extract import last_program
from cotfactory.flows.config import PromptSelection
from cotfactory.flows.import_prompts import import_prompts
from cotfactory.flows.run_state import select_prompts
from cotfactory.storage import InputError, Store

APPS_STDIO = {
    "question": "Read two integers and print their sum.",
    "input_output": json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}),
    "difficulty": "introductory",
}
TACO_CALL = {
    "question": "Write a function `double(x)` returning twice x.",
    "input_output": {"fn_name": "double", "inputs": [[1], [5]], "outputs": [[2], [10]]},
    "time_limit": "2 seconds",
}
CODE_CONTESTS = {
    "description": "Print the input reversed.",
    "public_tests": {"input": ["abc\n"], "output": ["cba\n"]},
    "private_tests": {"input": ["xy\n"], "output": ["yx\n"]},
    "generated_tests": {"input": [], "output": []},
    "time_limit": {"seconds": 2, "nanos": 500000000},
}
HUMANEVAL = {
    "task_id": "HumanEval/0",
    "prompt": 'def add(a, b):\n    """Add two numbers."""\n',
    "canonical_solution": "    return a + b\n",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    "entry_point": "add",
}
MBPP = {
    "text": "Write a function to find the minimum of two numbers.",
    "code": "def minimum(a, b):\n    return min(a, b)",
    "test_list": ["assert minimum(1, 2) == 1", "assert minimum(-5, -4) == -5"],
    "test_setup_code": "",
}
ECHO_CASE = {"input": "hi\n", "output": "hi\n", "type": "stdin_stdout"}
OPEN_R1 = {
    "problem": "Echo the input.",
    "verification_info": json.dumps({"language": "python", "test_cases": [ECHO_CASE]}),
}
OWN = {
    "problem": "Return the square of n.",
    "tests": {"function": "square", "calls": [{"args": [3], "expected": 9}], "time_limit_s": 1.5},
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("row", "problem_field", "tests"),
    [
        (APPS_STDIO, None, {"stdio": [{"input": "1 2\n", "output": "3\n"}, {"input": "3 4\n", "output": "7\n"}]}),
        (TACO_CALL, None, {"function": "double", "calls": [{"args": [1], "expected": [2]},
                                                           {"args": [5], "expected": [10]}], "time_limit_s": 2.0,
                        "expected_wrapped": True}),
        (CODE_CONTESTS, "description", {"stdio": [{"input": "abc\n", "output": "cba\n"},
                                                  {"input": "xy\n", "output": "yx\n"}], "time_limit_s": 2.5}),
        (HUMANEVAL, None, {"setup": HUMANEVAL["test"], "asserts": ["check(add)"]}),
        (MBPP, "text", {"asserts": MBPP["test_list"]}),
        (OPEN_R1, None, {"stdio": [{"input": "hi\n", "output": "hi\n"}]}),
        (OWN, None, OWN["tests"]),
    ],
    ids=["apps-stdio", "taco-call", "code-contests", "humaneval", "mbpp", "open-r1", "own"],
)  # fmt: skip
def test_dataset_shapes_become_stored_tests(
    tmp_path: Path, store: Store, row: dict, problem_field: str | None, tests: dict
) -> None:
    import_prompts(store, [write_jsonl(tmp_path / "code.jsonl", [row])], problem_field=problem_field)
    with store.transaction() as con:
        (prompt,) = select_prompts(con, PromptSelection())
    assert prompt.domain == "code"
    assert prompt.tests == tests
    assert prompt.reference is None  # a worked solution is code, not an answer to compare
    assert not set(prompt.metadata) & {"input_output", "test", "test_list", "public_tests", "verification_info"}


def test_starter_code_is_shown_with_the_problem(tmp_path: Path, store: Store) -> None:
    leetcode = {**TACO_CALL, "starter_code": "class Solution:\n    def double(self, x):\n        "}
    shown = {**TACO_CALL, "question": TACO_CALL["question"] + "\ndef double(x):", "starter_code": "def double(x):"}
    import_prompts(store, [write_jsonl(tmp_path / "taco.jsonl", [leetcode, shown])])
    with store.transaction() as con:
        problems = sorted(row[0] for row in con.execute("SELECT problem FROM prompts").fetchall())
    assert problems == [
        "Write a function `double(x)` returning twice x.\n\nUse this starter code:\n```python\n"
        "class Solution:\n    def double(self, x):\n```",
        "Write a function `double(x)` returning twice x.\ndef double(x):",  # already there: not repeated
    ]


def test_rows_without_tests_stay_math_and_a_named_domain_is_kept(tmp_path: Path, store: Store) -> None:
    path = write_jsonl(tmp_path / "mixed.jsonl", [{"problem": "1+1?", "answer": "2"}, APPS_STDIO])
    import_prompts(store, [path], domain="general")
    with store.transaction() as con:
        domains = dict(con.execute("SELECT problem, domain FROM prompts").fetchall())
    assert set(domains.values()) == {"general"}
    import_prompts(Store(tmp_path / "other.duckdb"), [path])
    with Store(tmp_path / "other.duckdb").transaction() as con:
        domains = dict(con.execute("SELECT problem, domain FROM prompts").fetchall())
    assert domains == {"1+1?": "math", APPS_STDIO["question"]: "code"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"question": "q", "input_output": "{not json"}, "field 'input_output' is not valid JSON"),
        ({"question": "q", "input_output": {"inputs": ["1"], "outputs": []}}, "1 inputs but 0 outputs"),
        ({"question": "q", "input_output": {"fn_name": "f", "inputs": ["1"], "outputs": [1]}}, "each input is a list"),
        ({"question": "q", "tests": {"stdio": [], "asserts": []}}, "needs exactly one of stdio, asserts, calls"),
        ({"question": "q", "tests": {"calls": [{"args": [], "expected": 1}]}}, "calls need `function`"),
        ({"question": "q", "tests": {"stdio": [{"input": "1"}]}}, r"tests.stdio.0.output: Field required"),
        ({"question": "q", "public_tests": {"input": ["1"], "output": ["1"]}, "time_limit": "soon"},
         "not a number of seconds"),
        ({"problem": "q", "verification_info": {"test_cases": [{**ECHO_CASE, "type": "function_call"}]}},
         "only stdin_stdout"),
    ],
)  # fmt: skip
def test_bad_tests_are_reported_with_file_line_and_field(
    tmp_path: Path, store: Store, row: dict, message: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [APPS_STDIO, row])
    with pytest.raises(InputError, match=rf"(?s){path}:2: .*{message}"):
        import_prompts(store, [path])
    report = import_prompts(store, [path], on_error="quarantine")
    assert (report.new, report.quarantined) == (1, 1)


def test_import_cli_and_sql_over_the_tests_column(tmp_path: Path, db: Path) -> None:
    path = write_jsonl(tmp_path / "code.jsonl", [APPS_STDIO, TACO_CALL, HUMANEVAL])
    imported = run_cli("import-prompts", str(path), "--db", str(db))
    assert imported.returncode == 0, imported.stderr
    answered = run_cli(
        "sql",
        "select domain, json_array_length(tests->'$.stdio') as stdio, tests->>'$.function' as function "
        "from prompts order by function nulls first, stdio nulls last",
        "--db", str(db), "--format", "json",
    )  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == [
        {"domain": "code", "stdio": 2, "function": None},
        {"domain": "code", "stdio": None, "function": None},
        {"domain": "code", "stdio": None, "function": "double"},
    ]


@pytest.mark.parametrize(
    ("answer", "program"),
    [
        ("Use this:\n```python\nprint(1)\n```\nor better:\n```python\nprint(2)\n```\n", "print(2)\n"),
        ("```py\nx = 1\n```\nRun it with:\n```bash\npython main.py\n```", "x = 1\n"),
        ("```\nprint('untagged')\n```", "print('untagged')\n"),
        ("````python\ns = '''\n```\n'''\n````", "s = '''\n```\n'''\n"),
        ("  ```python\n  indented()\n  ```", "  indented()\n"),
        ("```python\nprint(1)", None),  # unclosed: a truncated answer
        ("```java\nclass A {}\n```", None),
        ("```python\n\n```", None),
        ("no code at all", None),
    ],
)
def test_last_program(answer: str, program: str | None) -> None:
    assert last_program(answer) == program


@pytest.mark.parametrize(
    ("limit", "field"),
    [
        ({"time_limit": 1e9}, "time_limit"),
        ({"time_limit": float("inf")}, "time_limit"),  # JSON's Infinity, as Python writes it
        ({"time_limit": float("nan")}, "time_limit"),
        ({"time_limit": -2}, "time_limit"),
        ({"time_limit": {"seconds": 10**12, "nanos": 0}}, "time_limit"),
        ({"time_limit": {"seconds": "inf"}}, "time_limit"),
        ({"time_limit": "1e9 seconds"}, "time_limit"),
        ({"tests": {**OWN["tests"], "time_limit_s": 1e9}}, "tests.time_limit_s"),
        ({"tests": {**OWN["tests"], "time_limit_s": -1}}, "tests.time_limit_s"),
    ],
)
def test_a_time_limit_that_is_no_time_limit_is_refused_at_import(
    tmp_path: Path, store: Store, limit: dict, field: str
) -> None:
    row = {**(CODE_CONTESTS if "time_limit" in limit else OWN), "problem": "Reverse it.", **limit}
    path = write_jsonl(tmp_path / "limits.jsonl", [APPS_STDIO, row])
    with pytest.raises(InputError, match=rf"{path}:2: .*field '{field}'"):
        import_prompts(store, [path])


@pytest.mark.parametrize(("value", "seconds"), [(300, 300.0), (0.25, 0.25), ("15 s", 15.0), (0, None)])
def test_time_limits_within_range_are_kept(tmp_path: Path, store: Store, value: object, seconds: float | None) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [{**CODE_CONTESTS, "problem": "Reverse it.", "time_limit": value}])
    import_prompts(store, [path])
    with store.transaction() as con:
        stored = con.execute("SELECT tests->>'$.time_limit_s' FROM prompts").fetchone()[0]
    assert (float(stored) if stored is not None else None) == seconds


ADVERSARIAL = {
    "spaces-then-backtick": "```" + " " * (1 << 20) + "`\n",
    "spaces-before-fence": " " * (1 << 20) + "```python\nprint(1)\n```\n",
    "tabs-and-spaces": "~~~" + " \t" * (1 << 19) + "~`\n```\n" + "\t" * (1 << 19) + "```\n",
    "many-space-lines": ("```" + " " * 1000 + "`\n") * 1000,
    "unclosed-fences": "````\n" + "```\n" * 200_000,
}


def test_extraction_is_linear_on_a_megabyte_of_adversarial_whitespace() -> None:
    """Each text in a fresh interpreter that must finish well within a wall clock (a quadratic scan of any of
    them takes hours); the benchmark prints the time."""
    script = (
        "import json, sys\nfrom cotfactory.filters.code_extract import last_program\n"
        "print(json.dumps([last_program(text) for text in json.loads(sys.stdin.read())]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(list(ADVERSARIAL.values())), capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [None, "print(1)\n", None, None, None]
