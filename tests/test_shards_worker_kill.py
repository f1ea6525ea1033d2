"""A worker killed with SIGKILL mid-shard together with the flow runs it started (its whole process group): nobody
is left to report them, so they stay `Running` until their heartbeats are missed; Prefect's zombie automation
then marks them `Crashed`, the crash automation reschedules them, and another worker (here a restarted one, or
the one still alive) runs them again from their stores. The run completes with a one-process run's outcomes."""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import cli, rows
from openai_server import OpenAIServer
from prefect_pool import LocalPool, descendants, flow_run_of, local_pool
from test_shards_pool import OUTCOMES, answer, held_shards, sharded_config

from cotfactory.flows.config import RunConfig, load_config
from cotfactory.flows.shard_progress import look
from cotfactory.flows.shards import shard_ref

POOL = "cotfactory-kill-pool"
# Prefect's shortest heartbeat; the zombie window spans more than one beat so a late beat is not taken for death.
HEARTBEAT_S, ZOMBIE_AFTER_S = 30, 50
DEADLINE_S = 300  # generous: the conditions polled are exact, the deadlines only bound a hang


def api_json(api: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def poll(condition: Callable[[], Any], what: str, log: Path) -> Any:
    """`condition()` once it is truthy, polled until the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.5)  # polling Prefect's API and the stores, not waiting for a guess of time
    raise AssertionError(f"not within {DEADLINE_S} s: {what}\n" + log.read_text()[-3000:])


def runs_of(pool: LocalPool) -> list[set[str]]:
    """The flow runs each worker runs now (its processes' PREFECT__FLOW_RUN_ID)."""
    return [{run for pid in descendants(w.pid) if (run := flow_run_of(pid))} for w in pool.workers]


def live_members(group: int) -> list[int]:
    """The processes of a process group that still run (a killed orphan may linger as a zombie: dead)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            state, _, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == group and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def shard_of_run(api: str, flow_run: str) -> int:
    return int(api_json(api, f"/flow_runs/{flow_run}")["parameters"]["shard"])


def stored_something(config: RunConfig, shard: int) -> bool:
    seen = look(config, shard_ref(config, shard, 4).store)
    return seen is not None and seen[1].samples > 0


def heartbeats(api: str, flow_run: str) -> int:
    found = api_json(api, "/events/filter", {"filter": {
        "event": {"name": ["prefect.flow-run.heartbeat"]}, "resource": {"id": [f"prefect.flow-run.{flow_run}"]},
    }, "limit": 1})  # fmt: skip
    return int(found["total"])


def shard_states(api: str) -> list[str]:
    """The state type of every shard flow run on the server."""
    found = api_json(api, "/flow_runs/filter", {"flow_runs": {"name": {"like_": "-shard-"}}, "limit": 50})
    return [run["state_type"] for run in found]


def states(api: str, flow_run: str) -> list[tuple[str, str]]:
    history = api_json(api, f"/flow_run_states/?flow_run_id={flow_run}")
    return [(state["name"], state.get("message") or "") for state in history]


@pytest.mark.slow
def test_a_worker_killed_with_its_flow_runs_is_taken_over_after_its_heartbeats_stop(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with OpenAIServer(answer) as server, local_pool(tmp_path, POOL) as pool:
        api = pool.api
        config_path = sharded_config(
            tmp_path, server.url, "killed.duckdb", heartbeat_s=HEARTBEAT_S, zombie_after_s=ZOMBIE_AFTER_S
        )
        config = load_config(config_path)
        server.hold_after = 6  # a few rounds stored, then every request waits: the shards are mid-way
        server.hold = threading.Event()
        run = pool.start(*cli(), "run", str(config_path), "--shards", "4", "--work-pool", POOL, log="run.log")
        poll(server.held.is_set, "the server answered the first requests", log)

        def victim() -> tuple[int, set[str]] | None:
            """A worker one of whose shards has stored samples, with the flow runs it runs, once every shard's flow
            run has started (a run claimed by a worker that dies before starting it has no heartbeat to miss)."""
            started = shard_states(api)
            if len(started) < 4 or any(state not in ("RUNNING", "COMPLETED") for state in started):
                return None
            for index, flow_runs in enumerate(runs_of(pool)):
                if any(stored_something(config, shard_of_run(api, fr)) for fr in flow_runs):
                    return index, flow_runs
            return None

        index, killed_runs = poll(victim, "a worker's shard stored samples", log)
        # the flow runs that die mid-shard: their shard waits on a held request (one that completed may be exiting)
        held = held_shards(server)
        dying = {fr for fr in killed_runs if shard_of_run(api, fr) in held}
        assert dying, ("a killed flow run is mid-shard", held, killed_runs)
        for flow_run in dying:  # the deployment's job environment turned heartbeats on
            poll(lambda fr=flow_run: heartbeats(api, fr), f"a heartbeat of {flow_run} recorded", log)
        worker = pool.workers[index]
        os.killpg(worker.pid, signal.SIGKILL)  # the worker, its flow runs' processes and their check workers
        worker.wait(timeout=60)
        poll(lambda: not live_members(worker.pid), "every process of its group gone", log)
        pool.add_worker()  # a restarted worker; the other one may take the retry as well
        server.hold.set()

        assert run.wait(timeout=DEADLINE_S) == 0, log.read_text()[-3000:]
        for flow_run in killed_runs:
            history = states(api, flow_run)
            crashed = [message for name, message in history if name == "Crashed"]
            if flow_run in dying:
                assert crashed and all("no heartbeat" in m for m in crashed), ("the zombie automation", history)
            assert history[-1][0] == "Completed", history
        alone = sharded_config(tmp_path, server.url, "alone.duckdb")
        done = subprocess.run([*cli(), "run", str(alone)], env=pool.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    one = load_config(alone)
    assert rows(config.db, "SELECT status FROM runs") == [("completed",)]
    assert rows(config.db, OUTCOMES) == rows(one.db, OUTCOMES), "the same outcomes as one process"
    rounds = "SELECT count(*), count(DISTINCT (prompt_id, round)) FROM run_rounds"
    ((stored, distinct),) = rows(config.db, rounds)
    assert stored == distinct and rows(config.db, rounds) == rows(one.db, rounds), "every (prompt, round) once"
    for shard in {shard_of_run_db(config, run) for run in killed_runs}:
        ((shard_rounds, shard_distinct),) = rows(shard_ref(config, shard, 4).store, rounds)
        assert shard_rounds == shard_distinct, "the rerun resumed from its store, storing no round twice"


def shard_of_run_db(config: RunConfig, flow_run: str) -> int:
    ((shard,),) = rows(config.db, "SELECT shard FROM run_shards WHERE flow_run_id = ?", [flow_run])
    return int(shard)
