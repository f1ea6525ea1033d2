"""Continuous sampling: no round waits for another prompt's round, and one run drives a fleet of endpoints,
setting a failing one aside."""

import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from openai_server import OpenAIServer
from r1_answers import CASES, problem_of, r1_style
from run_configs import http_run_config, write_config

from cotfactory.flows.config import load_config
from cotfactory.flows.generate import generate
from cotfactory.samplers.base import SamplerError, SamplingParams
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.samplers.units import Unit, UnitQueue
from cotfactory.storage import PromptRecord, query

SOLVED = next(problem for problem, case in CASES.items() if case[1] is None)


def test_a_prompts_next_round_is_requested_while_another_prompts_first_round_runs(
    prefect_api: str, tmp_path: Path
) -> None:
    """The solved prompt's round 0 is held at the server until a round 1 request of another prompt arrives: with
    a round barrier that request would never come while it is held."""
    second_round_seen = threading.Event()
    held_until_seen: list[bool] = []
    config = load_config(write_config(tmp_path, http_run_config(tmp_path, "http://127.0.0.1:9/v1", max_rounds=2)))
    round_1_seeds = {config.params_for_round(1).seed_for(PromptRecord.create(p, source="x").prompt_id) for p in CASES}

    def answer(body: dict[str, Any], index: int) -> dict[str, Any]:
        if body["seed"] in round_1_seeds:
            second_round_seen.set()
        if problem_of(body) == SOLVED and body["seed"] not in round_1_seeds:  # both samples of its round 0
            held_until_seen.append(second_round_seen.wait(timeout=60))
        return r1_style(body, index)

    with OpenAIServer(answer) as server:
        raw = http_run_config(tmp_path, server.url, max_rounds=2)
        summary = generate(load_config(write_config(tmp_path, raw)))
    assert summary.status == "completed"
    assert held_until_seen == [True, True], "a round 1 request arrived while round 0 requests were still in flight"
    assert {(row.reason, row.samples) for row in summary.funnel} >= {("accepted", 1), ("wrong_answer", 4)}


def _units(count: int, n: int = 2) -> UnitQueue:
    queue = UnitQueue()
    params = SamplingParams(n=n, seed=1)
    for index in range(count):
        queue.put(Unit(PromptRecord.create(f"What is {index} + {index}?", source="t"), 0, params))
    return queue


def test_a_fleet_sets_a_failing_endpoint_aside_and_loses_nothing() -> None:
    with OpenAIServer() as healthy_a, OpenAIServer() as healthy_b, OpenAIServer() as failing:
        failing.fail_after = 0
        config = OpenAIHttpConfig(
            base_urls=[healthy_a.url, failing.url, healthy_b.url],
            model="m",
            max_concurrency=2,
            max_retries=3,
            backoff_base_s=0.01,
            endpoint_failures=2,
            endpoint_cooldown_s=600,
        )
        sampler = OpenAIHttpSampler(config)
        units = _units(30)
        received: list[tuple[Unit, int]] = []

        def done(unit: Unit, completions: list) -> None:
            received.append((unit, len(completions)))
            units.finished()

        sampler.stream(units, done)
    assert sorted(unit.request.problem for unit, _ in received) == sorted(f"What is {i} + {i}?" for i in range(30))
    assert all(count == 2 for _, count in received)
    # Set aside after two failures in a row; requests already queued for it by then (its slots, for each of a
    # unit's two samples) fail over too.
    assert 2 <= len(failing.requests) <= 2 + 2 * config.max_concurrency
    assert len(healthy_a.requests) + len(healthy_b.requests) == 60, "one request per sample"
    assert min(len(healthy_a.requests), len(healthy_b.requests)) >= 20, "the load is spread"
    counts = sampler.endpoint_counts()
    assert counts[failing.url + "/chat/completions"]["set_aside"] == 1
    assert "HTTP 503" in str(counts[failing.url + "/chat/completions"]["last_error"])


def test_a_fleet_fails_only_when_every_endpoint_is_down_naming_each() -> None:
    with OpenAIServer() as first, OpenAIServer() as second:
        first.fail_after = second.fail_after = 0
        config = OpenAIHttpConfig(
            base_urls=[first.url, second.url], model="m", max_retries=10, backoff_base_s=0.01, endpoint_failures=1
        )
        units = _units(3)
        with pytest.raises(SamplerError, match="every endpoint is down") as error:
            OpenAIHttpSampler(config).stream(units, lambda unit, completions: units.finished())
    assert first.url in str(error.value) and second.url in str(error.value) and "HTTP 503" in str(error.value)


def test_a_run_over_a_fleet_with_one_endpoint_failing_mid_run_completes(prefect_api: str, tmp_path: Path) -> None:
    with OpenAIServer(r1_style) as healthy, OpenAIServer(r1_style) as failing:
        failing.fail_after = 2  # answers twice, then goes away
        sampler = {"base_urls": [healthy.url, failing.url], "max_concurrency": 1, "max_retries": 3,
                   "endpoint_failures": 1}  # fmt: skip
        raw = http_run_config(tmp_path, healthy.url, sampler=sampler, max_rounds=2)
        del raw["sampler"]["base_url"]
        summary = generate(load_config(write_config(tmp_path, raw)))
    assert summary.status == "completed"
    db = tmp_path / "store.duckdb"
    # Every (prompt, round) once, with its two samples: nothing lost, nothing twice.
    assert query("SELECT count(*) AS n, count(DISTINCT (prompt_id, round)) AS d FROM run_rounds", db).rows() == [
        (9, 9)
    ]
    assert query("SELECT sum(samples) AS s FROM run_rounds", db).rows() == [(query(
        "SELECT count(*) FROM outcomes", db).item(),)]  # fmt: skip
    assert len(failing.requests) >= 3 and len(healthy.requests) >= 16
    # What each server did is in the store (and in `status`): every sample answered once, by one of them.
    endpoints = dict(query("SELECT endpoint, requests FROM run_endpoints", db).rows())
    assert endpoints == {healthy.url + "/chat/completions": 16, failing.url + "/chat/completions": 2}
    failing_url = failing.url + "/chat/completions"
    ((failures, set_aside),) = query(
        "SELECT failures, set_aside FROM run_endpoints WHERE endpoint = ?", db, params=[failing_url]
    ).rows()
    assert failures >= 1 and set_aside
    status = run_cli("status", summary.run_id, "--db", str(db))
    assert status.returncode == 0, status.stderr
    assert failing.url in status.stdout and "set_aside" in status.stdout


@pytest.mark.slow
@pytest.mark.parametrize("killed_at_request", [1, 4, 7])
def test_sigkill_at_any_point_then_rerun_stores_every_round_once(
    prefect_api: str, tmp_path: Path, killed_at_request: int
) -> None:
    """The run is killed when the server has answered `killed_at_request` requests (at the start, mid round 0, in
    round 1 while round 0 prompts are still being stored); the rerun completes it with every (prompt, round)
    stored once and no completion stored twice."""
    import os
    import subprocess

    from helpers import cli, kill_run, start_run_process

    with OpenAIServer(r1_style) as server:
        raw = http_run_config(tmp_path, server.url, max_rounds=2, sampler={"max_concurrency": 2})
        config = write_config(tmp_path, raw)
        server.hold, server.hold_after = threading.Event(), killed_at_request
        env = {**os.environ, "PREFECT_API_URL": prefect_api}
        process = start_run_process(config, prefect_api)
        try:
            assert server.held.wait(timeout=300)
            kill_run(process)
        finally:
            kill_run(process)
            server.hold.set()
        server.hold = None
        rerun = subprocess.run([*cli(), "run", str(config)], env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
    db = tmp_path / "store.duckdb"
    ((rounds, distinct, stored_samples),) = query(
        "SELECT count(*), count(DISTINCT (prompt_id, round)), sum(samples) FROM run_rounds", db
    ).rows()
    assert rounds == distinct == 9, "5 prompts in round 0, the 4 unsolved again in round 1, each once"
    assert query("SELECT count(*), count(DISTINCT sample_id) FROM outcomes", db).rows() == [(stored_samples,) * 2]
    assert query("SELECT count(*) FROM outcomes o ANTI JOIN run_rounds r USING (prompt_id, round)", db).item() == 0
    assert query("SELECT status FROM runs", db).rows() == [("completed",)]
