"""`cotfactory check` on a trace file: verdict lines in input order, funnel on stderr, nothing stored."""

import json
from pathlib import Path

from helpers import run_cli

REASONING = "We add: $2 + 2 = 4$. Checking once more, four is right."
TRACES = [
    {
        "id": "right",
        "problem": "What is 2+2?",
        "reference": "4",
        "completion": f"<think>{REASONING}</think>\\boxed{{4}}",
    },
    {
        "id": "wrong",
        "problem": "What is 2+2?",
        "reference": "4",
        "completion": f"<think>{REASONING}</think>\\boxed{{5}}",
    },
    {
        "id": "cut",
        "problem": "What is 2+2?",
        "reference": "4",
        "completion": f"<think>{REASONING} and then",
        "finish_reason": "length",
    },
    {
        "id": "mixed",
        "problem": "What is 2+2?",
        "reference": "4",
        "completion": f"<think>{REASONING} 所以</think>\\boxed{{4}}",
    },
    {
        "id": "zh",
        "problem": "2 加 2 等于多少？",
        "answer": "4",
        "completion": "<think>因为 $2 + 2 = 4$，所以答案是四。</think>答案是 \\boxed{4}。",
    },
]


def write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def test_verdicts_in_input_order_with_funnel(tmp_path: Path) -> None:
    out = tmp_path / "verdicts.jsonl"
    result = run_cli("check", str(write(tmp_path, TRACES)), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["id"], line["reason"]) for line in lines] == [
        ("right", None),
        ("wrong", "wrong_answer"),
        ("cut", "truncated"),  # cut at max_tokens: the cause before the unclosed reasoning
        ("mixed", "language_mixed"),
        ("zh", None),
    ]
    assert lines[0]["accepted"] and {"check", "passed", "reason", "score", "detail"} <= set(lines[0]["verdicts"][0])
    assert "5 samples checked" in result.stderr and "wrong_answer" in result.stderr and "40.0%" in result.stderr
    assert not list(tmp_path.glob("*.duckdb")), "check stores nothing"


def test_all_computes_every_check_and_config_chooses_checks(tmp_path: Path) -> None:
    path = write(tmp_path, TRACES[2:3])
    every = run_cli("check", str(path), "--all", cwd=tmp_path)
    (line,) = [json.loads(x) for x in every.stdout.splitlines()]
    assert {v["check"] for v in line["verdicts"]} >= {"truncated", "math_verify", "language", "repetition"}
    config = tmp_path / "run.toml"
    config.write_text('checks = ["truncated", {name = "repetition", max_ratio = 0.5}]\n')
    chosen = run_cli("check", str(path), "--config", str(config), cwd=tmp_path)
    (line,) = [json.loads(x) for x in chosen.stdout.splitlines()]
    assert [v["check"] for v in line["verdicts"]] == ["truncated"] and line["reason"] == "truncated"
    config.write_text('checks = [{name = "repetition", max_ration = 0.5}]\n')
    bad = run_cli("check", str(path), "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 1 and "no setting 'max_ration'" in bad.stderr


def test_bad_lines_are_reported_and_nothing_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(TRACES[0]) + "\n{broken\n" + json.dumps({"problem": "p"}) + "\n")
    result = run_cli("check", str(path), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert f"{path}:2: not valid JSON" in result.stderr
    assert f"{path}:3: missing completion field" in result.stderr


def test_hostile_text_passes_through_check_to_the_file_and_the_terminal(tmp_path: Path) -> None:
    """Lone surrogates (as JSON escapes), NULs, invalid UTF-8 in a code program's output and a 1 MiB line:
    every row gets its verdict, in a file and on stdout."""
    program = "import sys\\nsys.stdout.buffer.write(b'\\\\xff')\\nraise ValueError('\\\\udc80')"
    rows = [
        {"id": "surrogate\udc80", "problem": "What is 2+2?", "reference": "4",
         "completion": f"<think>{REASONING} \udc80\ud800 \x00</think>\\boxed{{4}}"},
        {"id": "huge", "problem": "What is 2+2?", "reference": "4",
         "completion": f"<think>{REASONING} {'word ' * 210_000}</think>\\boxed{{4}}"},
        {"id": "code", "problem": "Print 3.", "tests": {"stdio": [{"input": "", "output": "3"}]},
         "completion": f"<think>{REASONING}</think>\n```python\n{program}\n```"},
    ]  # fmt: skip
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))  # ASCII JSON: surrogates as escapes
    out = tmp_path / "verdicts.jsonl"
    to_file = run_cli("check", str(path), "--out", str(out), cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["surrogate\\udc80", "huge", "code"]
    assert lines[0]["accepted"] and lines[2]["reason"] == "runtime_error"
    assert "\\udc80" in next(v["detail"] for v in lines[2]["verdicts"] if v["check"] == "code_tests")
    to_terminal = run_cli("check", str(path), cwd=tmp_path)
    assert to_terminal.returncode == 0, to_terminal.stderr
    assert [json.loads(line)["id"] for line in to_terminal.stdout.splitlines()] == [line["id"] for line in lines]
