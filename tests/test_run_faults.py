"""A run's faults on Prefect's real engine: Ctrl-C stops after what is in flight is stored, and a server that
fails mid-run fails the run naming it, keeping what was stored."""

import os
import signal
from pathlib import Path

import pytest
from helpers import rows, start_run_process
from openai_server import OpenAIServer
from r1_answers import r1_style
from run_configs import http_run_config, write_config

from cotfactory.flows.config import load_config
from cotfactory.flows.generate import generate
from cotfactory.samplers.base import SamplerError


def test_ctrl_c_stops_after_the_batch_in_flight_is_stored(prefect_api: str, tmp_path: Path) -> None:
    import threading

    with OpenAIServer(r1_style) as server:
        # One request at a time, so that exactly one unit (two requests, one per sample) is in flight at Ctrl-C.
        raw = http_run_config(tmp_path, server.url, batch_size=1, max_rounds=1, sampler={"max_concurrency": 1})
        config = write_config(tmp_path, raw)
        server.hold, server.hold_after = threading.Event(), 4
        process = start_run_process(config, prefect_api)
        try:
            assert server.held.wait(timeout=300)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            # The handler has run once the process prints its notice; then let the batch in flight finish.
            notice = ""
            while "stopping after the samples in flight" not in notice:
                line = process.stderr.readline()
                assert line, "the run ended without acknowledging Ctrl-C"
                notice += line
            server.hold.set()
            stdout, stderr = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        assert process.returncode == 130, stderr
        db = tmp_path / "store.duckdb"
        assert rows(db, "SELECT status FROM runs") == [("cancelled",)]
        assert rows(db, "SELECT count(DISTINCT prompt_id) FROM samples") == [(3,)], "the held request was stored"
        assert len(server.requests) == 6, "the unit in flight at Ctrl-C finished, and no other was started"
        assert "funnel" in stdout


def test_server_failing_mid_run_fails_naming_it_and_keeps_what_was_stored(prefect_api: str, tmp_path: Path) -> None:
    with OpenAIServer(r1_style) as server:
        server.fail_after = 4
        raw = http_run_config(
            tmp_path, server.url, batch_size=1, max_rounds=1, sample_retries=1, sampler={"max_concurrency": 1}
        )
        config = load_config(write_config(tmp_path, raw))
        with pytest.raises(
            SamplerError, match=f"{server.url}/chat/completions failed after 2 attempts, last: HTTP 503"
        ):
            generate(config)
        failing = {body["messages"][-1]["content"] for body in server.requests[4:]}
        assert len(failing) == 1, "only the failing unit's requests (and their retries) were sent after the failure"
        assert 2 <= len(server.requests) - 4 <= 4, "one HTTP retry of each failing request"
    assert rows(config.db, "SELECT count(DISTINCT prompt_id), count(*) FROM samples") == [(2, 4)]
    assert rows(config.db, "SELECT status FROM runs") == [("failed",)]


def test_a_second_ctrl_c_stops_at_once_without_waiting_for_the_requests_in_flight(
    prefect_api: str, tmp_path: Path
) -> None:
    import threading

    with OpenAIServer(r1_style) as server:
        raw = http_run_config(tmp_path, server.url, batch_size=1, max_rounds=1, sampler={"max_concurrency": 1})
        config = write_config(tmp_path, raw)
        server.hold, server.hold_after = threading.Event(), 4  # the third unit's request is held for 120 s
        process = start_run_process(config, prefect_api)
        try:
            assert server.held.wait(timeout=300)
            os.killpg(process.pid, signal.SIGINT)
            notice = ""
            while "stopping after the samples in flight" not in notice:
                line = process.stderr.readline()
                assert line, "the run ended without acknowledging Ctrl-C"
                notice += line
            os.killpg(process.pid, signal.SIGINT)
            # a guard, not a timing: waiting for the held request took the sampler's 60 s grace before
            _, stderr = process.communicate(timeout=45)
            assert server.in_flight == 1, "the held request was not waited for"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        assert process.returncode == 130, stderr
        server.hold.set()
        rerun = start_run_process(config, prefect_api)
        _, stderr = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, stderr
    db = tmp_path / "store.duckdb"
    assert rows(db, "SELECT count(*), count(DISTINCT prompt_id) FROM run_rounds") == [(5, 5)]
    assert rows(db, "SELECT count(*) FROM samples") == [(10,)], "the rerun sampled what was lost, once"
