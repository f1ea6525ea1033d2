"""A run over code problems: the HTTP sampler answers with programs, `code_tests` runs them in the sandbox."""

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from openai_server import OpenAIServer
from run_configs import http_run_config, sample_position, write_config

from cotfactory.filters.sandbox import SandboxUnavailable
from cotfactory.flows.config import load_config
from cotfactory.flows.generate import generate
from cotfactory.storage import query

PROBLEMS = [
    {"question": "Read a and b, print a + b.", "input_output": {"inputs": ["1 2\n", "5 5\n"], "outputs": ["3", "10"]}},
    {"question": "Write double(x).", "input_output": {"fn_name": "double", "inputs": [[2], [7]], "outputs": [4, 14]}},
    {"question": "Write is_even(n).", "test_list": ["assert is_even(2)", "assert not is_even(3)"]},
    {"question": "Read n, print n squared.", "input_output": {"inputs": ["3\n"], "outputs": ["9"]}},
]
# Per problem: what the server answers on sample 0 and sample 1.
PROGRAMS = {
    "Read a and b": ["a, b = map(int, input().split())\nprint(a + b)", "print(3)"],
    "Write double": ["def double(x):\n    return 2 * x", "def double(x):\n    return x + 2"],
    "Write is_even": ["def is_even(n):\n    return n % 2 == 0", "def is_even(n):\n    raise ValueError(n)"],
    "Read n": ["while True:\n    pass", "Let me think about it more."],
}


RUN: list[Any] = []  # the config of the run being served


def code_answer(body: dict[str, Any], index: int) -> dict[str, Any]:
    user = body["messages"][-1]["content"]
    _, index = sample_position(RUN[-1], body)
    program = next(programs[index % 2] for start, programs in PROGRAMS.items() if user.startswith(start))
    fenced = program if program.startswith("Let me") else f"```python\n{program}\n```"
    return {"role": "assistant", "content": f"<think>\nI will write a short program.\n</think>\n{fenced}\n"}


def code_config(folder: Path, url: str) -> dict[str, Any]:
    (folder / "code.jsonl").write_text("".join(json.dumps(problem) + "\n" for problem in PROBLEMS))
    return http_run_config(
        folder,
        url,
        prompts={"files": ["code.jsonl"], "source": "code", "language": "en"},
        samples_per_round=2,
        max_rounds=1,
        checks=["think_format", "non_empty", "repetition", {"name": "code_tests", "time_limit_s": 1.0}],
        checking={"workers": 2},
        dedup={"enabled": False},
    )


def test_a_code_run_keeps_passing_programs_and_names_why_the_others_failed(prefect_api: str, tmp_path: Path) -> None:
    with OpenAIServer(code_answer) as server:
        config = load_config(write_config(tmp_path, code_config(tmp_path, server.url)))
        RUN.append(config)
        summary = generate(config)
    assert summary.status == "completed"
    stored = query(
        "SELECT split_part(p.problem, ' ', 1) || ' ' || split_part(p.problem, ' ', 2) AS problem, s.sample_index, "
        "s.accepted, s.reject_reason, v.score, v.detail FROM samples s JOIN prompts p USING (prompt_id) "
        "JOIN verdicts v ON v.sample_id = s.sample_id AND v.check_name = 'code_tests' ORDER BY problem, sample_index",
        config.db,
    ).rows()
    outcomes = {(problem, index): (accepted, reason, score) for problem, index, accepted, reason, score, _ in stored}
    assert outcomes == {
        ("Read a", 0): (True, None, 1.0),
        ("Read a", 1): (False, "tests_failed", 0.5),
        ("Write double(x).", 0): (True, None, 1.0),
        ("Write double(x).", 1): (False, "tests_failed", 0.5),  # 2 + 2 == 2 * 2
        ("Write is_even(n).", 0): (True, None, 1.0),
        ("Write is_even(n).", 1): (False, "runtime_error", 0.0),
        ("Read n,", 0): (False, "sandbox_timeout", 0.0),
        ("Read n,", 1): (False, "no_code", 0.0),
    }
    details = {(problem, index): detail for problem, index, *_, detail in stored}
    assert details[("Write double(x).", 1)] == "test 2 of 2: double(7) returned 9, expected 14"
    assert "ValueError: 2" in details[("Write is_even(n).", 1)]


def test_code_prompts_on_a_machine_without_bubblewrap_fail_before_sampling(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "prlimit").symlink_to("/usr/bin/prlimit")
    monkeypatch.setenv("PATH", str(bin_dir))
    with OpenAIServer(code_answer) as server:
        config = load_config(write_config(tmp_path, code_config(tmp_path, server.url)))
        with pytest.raises(SandboxUnavailable, match="apt install bubblewrap"):
            generate(config)
        assert server.requests == []
    assert query("SELECT count(*) FROM runs", config.db).rows() == [(0,)]


def test_check_cli_runs_the_tests_of_code_traces(tmp_path: Path) -> None:
    """Existing traces of code problems (HumanEval-shaped rows with a completion) through `cotfactory check`."""
    problem = {"prompt": "def square(n):\n", "test": "def check(f):\n    assert f(3) == 9\n", "entry_point": "square"}
    traces = [
        {
            "id": "right",
            **problem,
            "completion": "<think>n*n</think>\n```python\ndef square(n):\n    return n * n\n```",
        },
        {
            "id": "wrong",
            **problem,
            "completion": "<think>n+n</think>\n```python\ndef square(n):\n    return n + n\n```",
        },
        {"id": "none", **problem, "completion": "<think>hmm</think>\nIt is n squared."},
    ]
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(trace) + "\n" for trace in traces))
    checked = run_cli("check", str(path), "--checks", "think_format,code_tests")
    assert checked.returncode == 0, checked.stderr
    verdicts = [json.loads(line) for line in checked.stdout.splitlines()]
    assert [(v["id"], v["reason"]) for v in verdicts] == [
        ("right", None),
        ("wrong", "tests_failed"),
        ("none", "no_code"),
    ]


def test_the_code_example_runs_as_the_readme_says(prefect_api: str, tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[1] / "examples"
    summary = generate(load_config(examples / "run-code.toml", db=tmp_path / "code.duckdb"))
    assert summary.status == "completed"
    assert {(row.reason, row.samples) for row in summary.funnel} == {
        ("accepted", 4),
        ("tests_failed", 2),
        ("no_code", 1),
        ("sandbox_timeout", 1),
    }
