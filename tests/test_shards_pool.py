"""A run sharded over a real Prefect work pool: `prefect server start` on a free port, a process work pool with
two `prefect worker start` processes and `cotfactory run --shards 4 --work-pool`. A shard's flow run killed with
SIGKILL mid-shard is run again by Prefect; a shard failed for good leaves the others merged and the rerun
submits only it. Each merged store equals a one-process run's. (A worker killed together with the flow runs it
started: tests/test_shards_worker_kill.py.)"""

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import cli, rows
from openai_server import OpenAIServer
from prefect_pool import descendants, flow_run_of, local_pool
from run_configs import write_config

from cotfactory.flows.config import load_config
from cotfactory.flows.shards import merge_shards, shard_of, shard_ref
from cotfactory.storage.ids import prompt_id_for

POOL = "cotfactory-test-pool"


BROKEN: set[str] = set()  # problems the server fails on (the handler raises: the connection drops)


def answer(body: dict[str, Any], index: int) -> dict[str, Any]:
    """A trace per problem, seed and index; one in three leaves its think tag open (rejected)."""
    problem = body["messages"][-1]["content"]
    if any(broken in problem for broken in BROKEN):
        raise ConnectionAbortedError(problem)
    seed = body.get("seed", 0) + index
    close = "" if seed % 3 == 0 else "</think>"
    return {"role": "assistant", "content": f"<think>{problem} worked out with seed {seed}{close}\n\\boxed{{{seed}}}"}


def sharded_config(folder: Path, url: str, db: str, name: str = "pool", **cluster: Any) -> Path:
    prompts = "".join(json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n" for i in range(12))
    (folder / "prompts.jsonl").write_text(prompts)
    config = {
        "name": name,
        "db": db,
        "samples_per_round": 2,
        "target_accepted": 2,
        "max_rounds": 2,
        "batch_size": 1,
        "prompts": {"files": ["prompts.jsonl"], "source": "sums", "language": "en"},
        "sampler": {"kind": "openai", "base_url": url, "model": "r1-test", "timeout_s": 300, "max_retries": 0},
        "checks": ["think_format", "non_empty"],
        "checking": {"workers": 1},
        "cluster": {"shard_dir": "shards", **cluster},
    }
    return write_config(folder, config, f"{db}.toml")


OUTCOMES = "SELECT sample_id, prompt_id, round, accepted, reject_check, reject_reason FROM outcomes ORDER BY 1"


_PROBLEM = re.compile(r"What is \d+ \+ \d+\?")


def held_shards(server: OpenAIServer, shards: int = 4) -> set[int]:
    """The shards with a request the server holds now: they cannot complete until it answers."""
    held = server.requests[server.hold_after :]
    return {shard_of(prompt_id_for(_PROBLEM.search(body["messages"][-1]["content"])[0]), shards) for body in held}


def api_call(api: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        text = reply.read()
    return json.loads(text) if text else None


def shard_of_flow_run(api: str, flow_run: str) -> int:
    return int(api_call(api, f"/flow_runs/{flow_run}")["parameters"]["shard"])


def automation_outcomes(api: str, triggering_event: str) -> list[str]:
    """What the automations did about one event: the names of their `action.executed` / `action.failed` events."""
    found = api_call(api, "/events/filter", {"filter": {"event": {"prefix": ["prefect.automation.action."]}},
                                             "limit": 50})  # fmt: skip
    return [e["event"] for e in found["events"] if e["event"] != "prefect.automation.action.triggered"
            and triggering_event in json.dumps(e)]  # fmt: skip


def poll_api(condition: Any, what: str, deadline_s: float = 120) -> Any:
    """`condition()` once truthy, polled against Prefect's API until the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.5)  # polling the server's event store, not guessing a time
    raise AssertionError(f"not within {deadline_s} s: {what}")


def shard_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("shard ")]


@pytest.mark.slow
def test_a_run_sharded_over_a_work_pool_survives_a_killed_shard_and_resumes_a_failed_one(tmp_path: Path) -> None:
    with OpenAIServer(answer) as server, local_pool(tmp_path, POOL) as pool:
        env, api = pool.env, pool.api
        start = pool.start
        # 1. A shard's flow run killed mid-shard: Prefect reschedules it, it resumes from its store.
        config = sharded_config(tmp_path, server.url, "sharded.duckdb")
        run = [*cli(), "run", str(config), "--shards", "4", "--work-pool", POOL]
        server.hold_after = 6  # a few rounds stored, then every request waits: the shards are mid-way
        server.hold = threading.Event()
        first = start(*run, log="first.log")
        assert server.held.wait(timeout=300), (tmp_path / "first.log").read_text()[-3000:]
        # a flow run mid-shard: one whose shard waits on a held request (one that has finished may still be exiting)
        held = held_shards(server)
        running = {pid: flow_run_of(pid) for pid in pool.flow_run_processes()}
        killed = [pid for pid, fr in running.items() if fr and shard_of_flow_run(api, fr) in held][:1]
        assert killed, ("a worker runs the flow run of a shard with a held request", held, running)
        killed_run = flow_run_of(killed[0])
        for pid in [killed[0], *descendants(killed[0])]:
            os.kill(pid, signal.SIGKILL)  # the flow run's process and its check workers, not the worker
        server.hold.set()
        assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()[-3000:]
        states = shard_lines(tmp_path / "first.log")
        sharded = load_config(config)
        ((shard,),) = rows(sharded.db, "SELECT shard FROM run_shards WHERE flow_run_id = ?", [killed_run])
        states = [line for line in shard_lines(tmp_path / "first.log") if line.startswith(f"shard {shard}:")]
        assert states[-1] == f"shard {shard}: Completed", states
        worker_logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(len(pool.workers)))
        assert "as crashed" in worker_logs, "its worker reported the kill as a crash"
        with urllib.request.urlopen(f"{api}/flow_runs/{killed_run}", timeout=30) as reply:
            flow_run = json.loads(reply.read())
        # crashed, then completed: Prefect ran the same flow run again (its run_count depends on how the retry state
        # was entered, so the states tell it)
        assert flow_run["state_type"] == "COMPLETED", ("Prefect ran it again", flow_run)
        # a late or repeated crash signal for the merged shard (Prefect acts on a trigger at least once): its
        # automation acts, Prefect refuses to reschedule a completed run, and the shard is not run again
        deployment = flow_run["deployment_id"]
        late = {"event": "prefect.flow-run.Crashed", "id": str(uuid.uuid4()),
                "occurred": datetime.now(UTC).isoformat(),
                "resource": {"prefect.resource.id": f"prefect.flow-run.{killed_run}"},
                "related": [{"prefect.resource.id": f"prefect.deployment.{deployment}",
                             "prefect.resource.role": "deployment"}]}  # fmt: skip
        api_call(api, "/events", [late])
        acted = poll_api(lambda: automation_outcomes(api, late["id"]), "the crash automation acted on the late event")
        assert set(acted) == {"prefect.automation.action.failed"}, acted  # refused (once, or again on a retry)
        with urllib.request.urlopen(f"{api}/flow_runs/{killed_run}", timeout=30) as reply:
            assert json.loads(reply.read())["state_type"] == "COMPLETED", "a completed shard stays completed"
        assert rows(sharded.db, "SELECT status FROM runs") == [("completed",)]

        # 2. A shard that fails for good (its server drops every request of one prompt): the others are
        # merged, the run is failed naming it, and the rerun submits only that shard.
        server.hold = None
        BROKEN.add("What is 3 + 3?")
        other = sharded_config(tmp_path, server.url, "other.duckdb", name="pool-b")
        rerun = [*cli(), "run", str(other), "--shards", "4", "--work-pool", POOL]
        failing = start(*rerun, log="failing.log")
        assert failing.wait(timeout=300) == 1, (tmp_path / "failing.log").read_text()[-3000:]
        failed = [int(line.split()[1]) for line in shard_lines(tmp_path / "failing.log") if "failed (" in line]
        assert len(failed) == 1, (tmp_path / "failing.log").read_text()[-3000:]
        b = load_config(other)
        merged = rows(b.db, "SELECT shard FROM run_shards WHERE merged_at IS NOT NULL ORDER BY 1")
        assert [m for (m,) in merged] == [s for s in range(4) if s not in failed], "the others are merged"
        assert rows(b.db, "SELECT status FROM runs") == [("failed",)]
        BROKEN.clear()
        resumed = start(*rerun, log="resumed.log")
        assert resumed.wait(timeout=300) == 0, (tmp_path / "resumed.log").read_text()[-3000:]
        submitted = {line.split()[1] for line in shard_lines(tmp_path / "resumed.log")}
        assert submitted == {f"{failed[0]}:"}, "the rerun submits only the missing shard"
        assert rows(b.db, "SELECT status FROM runs") == [("completed",)]

        alone = sharded_config(tmp_path, server.url, "alone.duckdb")
        done = subprocess.run([*cli(), "run", str(alone)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    one = load_config(alone)
    assert rows(sharded.db, OUTCOMES) == rows(one.db, OUTCOMES), "the same outcomes as one process"
    decided = "SELECT sample_id, accepted, reject_check, reject_reason FROM outcomes ORDER BY 1"
    assert rows(b.db, decided) == rows(one.db, decided), "a resumed shard too"
    rounds = "SELECT count(*), count(DISTINCT (prompt_id, round)) FROM run_rounds"
    assert rows(sharded.db, rounds) == rows(one.db, rounds) == rows(b.db, rounds)
    for store in (sharded, b):
        ((samples, accepted),) = rows(store.db, "SELECT sum(samples), sum(accepted) FROM run_shards")
        assert rows(store.db, "SELECT count(*), count(*) FILTER (WHERE accepted) FROM outcomes") == [
            (samples, accepted)
        ], "the shards' counts add up to the run's"
        before = rows(store.db, OUTCOMES)
        again = merge_shards(store, [shard_ref(store, shard, 4) for shard in range(4)])
        assert not any(m.merged_now for m in again) and rows(store.db, OUTCOMES) == before
