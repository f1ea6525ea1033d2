"""One writer per run per store: a second process sampling the same run (a shard flow run started again while
the first still runs, or the same run started twice) waits for the first, saying who holds the run, then
continues from what it stored: the store ends as one process's run, every round stored once. A holder killed
with SIGKILL releases the run at once."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from helpers import cli, rows
from openai_server import OpenAIServer
from test_shards_pool import OUTCOMES, answer, sharded_config

from cotfactory.storage.run_lock import WaitStopped, run_lock_path, run_writer

# Holds run r1's lock and forks a child (as an engine forks its workers) that outlives it.
HOLDER = """
import os, sys
from pathlib import Path
from cotfactory.storage.run_lock import run_writer
with run_writer(Path(sys.argv[1]), "r1"):
    if os.fork() == 0:
        sys.stdin.readline()
        os._exit(0)
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_writer_waits_naming_the_holder_and_goes_on_when_it_is_killed(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        told: list[str] = []
        waiting, entered = threading.Event(), threading.Event()

        def second() -> None:
            with run_writer(store, "r1", lambda message: (told.append(message), waiting.set())):
                entered.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert waiting.wait(timeout=30), "the second writer was told it waits"
        assert not entered.is_set(), "it did not go in while the run was held"
        assert f"PID {holder.pid} on" in told[0] and "run r1" in told[0], told
        holder.send_signal(signal.SIGKILL)
        thread.join(timeout=30)
        assert entered.is_set(), "the dead holder's lock was released, though the child it forked lives on"
    finally:
        holder.kill()
        holder.wait(timeout=30)
        assert holder.stdin is not None
        holder.stdin.close()  # the forked child reads its end and exits
    with run_writer(store, "r2", lambda message: (_ for _ in ()).throw(AssertionError(message))):
        pass  # another run of the same store is not held
    assert run_lock_path(store, "r1").is_file()


def test_a_writer_told_to_stop_while_it_waits_stops(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    stop = threading.Event()
    with run_writer(store, "r1"):
        stop.set()
        waiting = run_writer(store, "r1", lambda message: None, stop)
        with pytest.raises(WaitStopped, match="stopped while waiting for run r1"), waiting:
            raise AssertionError("went in while the run was held")  # pragma: no cover


def test_where_no_lock_can_be_made_the_work_goes_on_with_a_warning(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "missing" / "store.duckdb"
    with run_writer(store, "r1"), run_writer(store, "r1"):
        pass
    assert "goes on unlocked" in caplog.text and str(store) in caplog.text


def test_the_same_run_started_twice_stores_one_runs_samples(prefect_api: str, tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    with OpenAIServer(answer) as server:
        server.hold = threading.Event()  # the first run's requests wait until the second run is waiting too
        twice = sharded_config(tmp_path, server.url, "twice.duckdb")
        runs = [
            subprocess.Popen(
                [*cli(), "run", str(twice)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        waited = threading.Event()
        logs: list[list[str]] = [[], []]

        def read(index: int) -> None:
            stream = runs[index].stderr
            assert stream is not None
            for line in stream:
                logs[index].append(line)
                if "is being written by PID" in " ".join("".join(logs[index]).split()):
                    waited.set()

        readers = [threading.Thread(target=read, args=(index,)) for index in range(2)]
        for reader in readers:
            reader.start()
        assert waited.wait(timeout=120), ("one run waited for the other", "".join(logs[0] + logs[1])[-4000:])
        server.hold.set()
        for run in runs:
            assert run.wait(timeout=300) == 0, "".join(logs[0] + logs[1])[-3000:]
        for reader in readers:
            reader.join(timeout=30)
        alone = sharded_config(tmp_path, server.url, "alone.duckdb")
        done = subprocess.run([*cli(), "run", str(alone)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    twice_db, alone_db = tmp_path / "twice.duckdb", tmp_path / "alone.duckdb"
    assert rows(twice_db, OUTCOMES) == rows(alone_db, OUTCOMES), "the same outcomes as one run"
    rounds = "SELECT count(*), count(DISTINCT (prompt_id, round)) FROM run_rounds"
    assert rows(twice_db, rounds) == rows(alone_db, rounds)
    ((stored, distinct),) = rows(twice_db, rounds)
    assert stored == distinct
