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
        ("cut", "unclosed_think"),
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
