"""An audit reproduces a run: `cotfactory check --config RUN.toml --db STORE` on the traces a run stored gives
every sample the run's outcome (accepted, first failing check, reason), with the vote, the judge,
decontamination and dedup all in the chain."""

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from openai_server import OpenAIServer
from run_configs import write_config

from cotfactory.filters.decontam import register_benchmark
from cotfactory.flows.config import load_config
from cotfactory.flows.generate import generate
from cotfactory.storage import Store, query

BENCHMARK = "Find the number of ordered pairs of positive integers whose product is exactly seventy two."
SHARED = "Seventy two is two cubed times three squared, so it has four times three divisors, twelve in all."


def trace(problem: str, answer: str, words: str) -> dict[str, str]:
    return {"problem": problem, "completion": f"<think>\n{words}\n</think>\nThe answer is $\\boxed{{{answer}}}$."}


def problems_and_traces() -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    divisors = "How many positive divisors does seventy two have?"
    pairs = "How many divisors does the number 72 have in all?"
    half = "What is one divided by two?"
    no_reference = "What is six times seven, as a whole number?"
    prompts = [
        {"problem": BENCHMARK, "answer": "12"},
        {"problem": divisors, "answer": "12"},
        {"problem": pairs, "answer": "12"},
        {"problem": half, "answer": "\\frac{1}{2}"},
        {"problem": no_reference},
    ]
    traces = [
        trace(BENCHMARK, "12", "Each divisor d pairs with 72 / d, so the pairs match the divisors."),
        trace(BENCHMARK, "11", "I count eleven pairs after listing them."),
        trace(divisors, "12", SHARED),
        trace(divisors, "13", "There are thirteen of them, I think."),
        trace(pairs, "12", SHARED),  # the same reasoning as a kept sample of another prompt: a duplicate
        trace(pairs, "12", "Listing them: 1 2 3 4 6 8 9 12 18 24 36 72, twelve in all."),
        trace(half, "0.5", "One half is five tenths as a decimal."),
        trace(half, "one half", "Dividing one by two gives one half."),  # only the judge accepts this one
        trace(half, "2/3", "I divided wrongly and got two thirds."),
        trace(no_reference, "42", "Six sevens are forty two."),
        trace(no_reference, "42", "Seven times six is forty two, as six times seven."),
        trace(no_reference, "41", "Six times seven is forty one."),
    ]
    return prompts, traces


def judge_reply(body: dict[str, Any], index: int) -> dict[str, Any]:
    student = body["messages"][-1]["content"].split("Student's final answer")[1]
    return {"role": "assistant", "content": "EQUIVALENT" if "one half" in student else "DIFFERENT"}


def outcomes_of_audit(path: Path) -> dict[str, tuple[bool, str | None, str | None]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {line["id"]: (line["accepted"], line["check"], line["reason"]) for line in lines}


@pytest.mark.slow
def test_an_audit_of_a_runs_own_traces_gives_the_runs_outcomes(prefect_api: str, tmp_path: Path) -> None:
    prompts, traces = problems_and_traces()
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    (tmp_path / "dump.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces))
    (tmp_path / "bench.jsonl").write_text(json.dumps({"problem": BENCHMARK}) + "\n")
    store = Store(tmp_path / "store.duckdb")
    register_benchmark(store, "bench", [tmp_path / "bench.jsonl"])
    with OpenAIServer(answer=judge_reply) as judge:
        raw = {
            "name": "audited",
            "db": "store.duckdb",
            "samples_per_round": 3,
            "prompts": {"files": ["prompts.jsonl"], "source": "audit", "language": "en"},
            "sampler": {"kind": "replay", "paths": ["dump.jsonl"]},
            "checks": ["think_format", "truncated", "non_empty", "repetition", "language", "math_verify"],
            "decontam": ["bench"],
            "checking": {
                "workers": 1,
                "majority_vote": True,
                "judge": {"sampler": {"kind": "openai", "base_url": judge.url, "model": "judge", "max_retries": 0}},
            },
        }
        config_path = write_config(tmp_path, raw)
        summary = generate(load_config(config_path))
        assert summary.status == "completed"
        stored = query(
            "SELECT o.sample_id AS id, p.problem, p.reference AS answer, c.completion, o.round, o.accepted, "
            "o.reject_check, o.reject_reason FROM outcomes o JOIN completions c USING (sample_id) "
            "JOIN prompts p ON p.prompt_id = o.prompt_id WHERE o.run_id = ? ORDER BY o.prompt_id, o.sample_index",
            store.path, params=[summary.run_id],
        ).rows()  # fmt: skip
        run = {row[0]: (row[5], row[6], row[7]) for row in stored}
        # the run exercised every part of the chain
        reasons = {reason for _, _, reason in run.values()}
        assert {"contaminated", "duplicate", "wrong_answer"} <= reasons, run
        assert sum(accepted for accepted, _, _ in run.values()) >= 5
        judged = query(
            "SELECT check_name, passed, count(*) FROM verdicts WHERE check_name IN ('llm_judge', 'majority_vote') "
            "GROUP BY ALL ORDER BY ALL", store.path,
        ).rows()  # fmt: skip
        assert judged == [("llm_judge", False, 4), ("llm_judge", True, 1), ("majority_vote", True, 3)]
        keys = ("id", "problem", "answer", "completion", "round")
        dumped = tmp_path / "traces.jsonl"
        dumped.write_text("".join(json.dumps(dict(zip(keys, row[:5], strict=True))) + "\n" for row in stored))
        audit = tmp_path / "audit.jsonl"
        done = run_cli(
            "check", str(dumped), "--config", str(config_path), "--db", str(store.path), "--out", str(audit),
            cwd=tmp_path, env={"PREFECT_API_URL": prefect_api},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert outcomes_of_audit(audit) == run
