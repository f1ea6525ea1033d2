"""A run whose doomed samples are aborted mid-stream, on Prefect's real engine: killed with SIGKILL while
streams are open, then rerun; every (prompt, round) is stored once, and an audit of the stored prefixes with the
run's config decides each sample as the run did."""

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from helpers import cli, kill_run, rows, start_run_process
from openai_server import OpenAIServer
from r1_answers import CASES, problem_of
from run_configs import http_run_config, write_config
from test_stream_abort import paragraphs


def answer(body: dict[str, Any], index: int) -> dict[str, Any]:
    """Every third sample slips into Chinese in its fourth paragraph, then goes on for long; the others answer
    right after a short reasoning."""
    problem, seed = problem_of(body), body["seed"]
    reference = CASES[problem][0]
    reasoning = paragraphs(3, seed)
    if seed % 3 == 0:
        reasoning += ["然后我们再检查一下这个结果。", *paragraphs(150, seed + 1)]
    text = "<think>\n" + "\n\n".join(reasoning) + f"\n</think>\n\nThe answer is $\\boxed{{{reference}}}$."
    return {"role": "assistant", "content": text}


def test_sigkill_while_streams_are_open_then_rerun_and_audit(prefect_api: str, tmp_path: Path) -> None:
    with OpenAIServer(answer) as server:
        server.chunk_delay_s = 0.002  # a doomed stream would run for seconds
        raw = http_run_config(tmp_path, server.url, samples_per_round=3, target_accepted=3, max_rounds=2,
                              batch_size=1, sampler={"max_concurrency": 2})  # fmt: skip
        config = write_config(tmp_path, raw)
        db = tmp_path / "store.duckdb"
        process = start_run_process(config, prefect_api)
        try:
            # killed once a stream is open after some samples were aborted (so the store holds work of the run)
            deadline = time.monotonic() + 300
            while not (server.disconnects and server.streams_open and server.streams_done >= 2):
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "no stream was open after an abort"
                server.disconnected.wait(timeout=0.05)
            kill_run(process)
        finally:
            kill_run(process)
        env = {**os.environ, "PREFECT_API_URL": prefect_api}
        rerun = subprocess.run([*cli(), "run", str(config)], env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rows(db, "SELECT status FROM runs") == [("completed",)]
    assert rows(db, "SELECT count(*), count(DISTINCT (prompt_id, round)) FROM run_rounds") == [(10, 10)]
    assert rows(db, "SELECT count(*), count(DISTINCT (prompt_id, round, sample_index)) FROM samples") == [(30, 30)]
    aborted = rows(db, "SELECT count(*) FROM samples WHERE finish_reason = 'aborted:language'")[0][0]
    assert aborted >= 3 and rows(db, "SELECT count(*) FROM samples WHERE NOT accepted") == [(aborted,)]
    assert rows(db, "SELECT max(length(completion)) FROM samples WHERE finish_reason LIKE 'aborted:%'")[0][0] < 4000

    traces = tmp_path / "traces.jsonl"
    stored = rows(
        db,
        "SELECT s.sample_id, p.problem, p.reference, s.completion, s.finish_reason, s.completion_tokens, s.accepted, "
        "s.reject_check, s.reject_reason FROM samples s JOIN prompts p USING (prompt_id) ORDER BY s.sample_id",
    )
    traces.write_text("".join(json.dumps({"id": r[0], "problem": r[1], "answer": r[2], "completion": r[3],
                                          "finish_reason": r[4], "completion_tokens": r[5]}) + "\n"
                              for r in stored))  # fmt: skip
    audit = subprocess.run(
        [*cli(), "check", str(traces), "--config", str(config), "--db", str(db)], capture_output=True, text=True
    )
    assert audit.returncode == 0, audit.stderr[-3000:]
    lines = [json.loads(line) for line in audit.stdout.splitlines()]
    audited = {line["id"]: (line["accepted"], line["check"], line["reason"]) for line in lines}
    assert audited == {r[0]: (r[6], r[7], r[8]) for r in stored}, "the audit decides every sample as the run did"


def long_after_the_first(body: dict[str, Any], index: int) -> dict[str, Any]:
    """Right answers; a round's first sample is short, the others reason for a long time."""
    problem, seed = problem_of(body), body["seed"]
    length = 3 if seed % 4 == ROUND_SEEDS.get(problem, -1) % 4 else 1500
    text = "<think>\n" + "\n\n".join(paragraphs(length, seed)) + "\n</think>\n\n"
    return {"role": "assistant", "content": text + f"The answer is $\\boxed{{{CASES[problem][0]}}}$."}


ROUND_SEEDS: dict[str, int] = {}


def test_on_target_abort_stops_the_samples_in_flight_of_a_prompt_that_has_its_target(
    prefect_api: str, tmp_path: Path
) -> None:
    from cotfactory.flows.config import load_config
    from cotfactory.flows.generate import generate
    from cotfactory.storage.ids import prompt_id_for

    with OpenAIServer(long_after_the_first) as server:
        server.chunk_delay_s = 0.002  # a long sample would stream for a minute
        raw = http_run_config(tmp_path, server.url, samples_per_round=4, target_accepted=1, max_rounds=1,
                              on_target="abort", dedup={"enabled": False})  # fmt: skip
        config = load_config(write_config(tmp_path, raw))
        ROUND_SEEDS.update({p: config.params_for_round(0).seed_for(prompt_id_for(p)) for p in CASES})
        summary = generate(config)
        assert server.disconnected.wait(timeout=30)
    assert summary.status == "completed"
    db = config.db
    per_outcome = rows(
        db, "SELECT accepted, reject_check, finish_reason, count(*) FROM samples GROUP BY ALL ORDER BY 1"
    )
    assert per_outcome == [(False, "target_met", "aborted:target_met", 15), (True, None, "stop", 5)]
    assert rows(db, "SELECT samples, accepted, target_met, pass_rate FROM run_cost") == [(20, 5, 15, 1.0)]
    assert rows(db, "SELECT max(length(completion)) FROM samples WHERE NOT accepted")[0][0] < 20_000
    assert len(server.disconnects) == 15, "each stopped sample's stream was closed"
