"""Batch writes: one transaction, idempotent, lock-aware."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import batch, prompt, seed_store, store_batch

from cotfactory.storage import RunRecord, Store, StoreBusy, connection, query
from cotfactory.storage.connection import BATCH_WRITE_MEMORY_LIMIT
from cotfactory.storage.store import write_batch


def counts(db: Path) -> tuple[int, int]:
    frame = query("SELECT (SELECT count(*) FROM samples) AS s, (SELECT count(*) FROM verdicts) AS v", db)
    return frame["s"][0], frame["v"][0]


def test_same_batch_twice_stores_it_once(store: Store, db: Path) -> None:
    samples, verdicts = batch(0, 25)
    assert store_batch(store, samples, verdicts) == 25
    assert counts(db) == (25, 50)
    assert store_batch(store, samples, verdicts) == 0
    assert counts(db) == (25, 50)


def test_prompts_are_keyed_by_normalized_problem(store: Store, db: Path) -> None:
    first = prompt(1)
    respaced = first.model_copy(update={"problem": "  " + first.problem.replace(" ", "\n ") + "\t"})
    assert store.add_prompts([first]) == 1
    assert store.add_prompts([type(first).create(respaced.problem, source="other")]) == 0
    assert query("SELECT count(*) AS n FROM prompts", db)["n"][0] == 1


def test_failed_transaction_leaves_nothing(store: Store, db: Path) -> None:
    samples, verdicts = batch(0, 10)
    with pytest.raises(RuntimeError), store.transaction() as con:
        from cotfactory.storage.store import write_batch

        write_batch(con, samples, verdicts)
        raise RuntimeError("crash between the samples and their verdicts")
    assert counts(db) == (0, 0)


def test_runs_and_sets_are_recorded(store: Store, db: Path) -> None:
    seed_store(store, batches=1, size=4, run_id="r1")
    store.start_run(RunRecord(run_id="r1", model="ignored-on-rerun"))
    store.finish_run("r1", "completed")
    run = query("SELECT model, status, finished_at IS NOT NULL AS done, package_version FROM runs", db)
    assert run.rows()[0][:3] == ("tiny", "completed", True)
    ids = query("SELECT sample_id FROM samples ORDER BY sample_id", db)["sample_id"].to_list()
    assert store.add_set("s", {"where": "all"}, ids).version == 1
    second = store.add_set("s", {"where": "two"}, ids[:2] + ids[:1])
    assert (second.version, second.row_count) == (2, 2)
    assert query("SELECT version, count(*) AS n FROM set_members GROUP BY 1 ORDER BY 1", db).rows() == [(1, 4), (2, 2)]


def test_writer_waits_for_a_holder_then_fails_clearly(store: Store, db: Path) -> None:
    store.migrate()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(db)!r}); print('held'); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusy, match=rf"held by .*PID {holder.pid}.*COTFACTORY_LOCK_TIMEOUT"):
            store_batch(Store(db, lock_timeout=0.3), *batch(0, 2))
    finally:
        holder.communicate("", timeout=60)
    assert store_batch(Store(db, lock_timeout=5), *batch(0, 2)) == 2


def test_a_runs_memory_capped_transactions_hold_duckdb_to_the_batch_write_limit_and_bulk_ones_do_not(
    store: Store,
) -> None:
    # The checkpoints a run's batch writes trigger would otherwise keep up to 80% of RAM as the store grows;
    # bulk inserts (imports, sets) keep DuckDB's default, since 2M new keys in one transaction do not fit 64MB.
    def memory_limit(**options: bool) -> str:
        with store.transaction(**options) as con:
            return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])

    assert BATCH_WRITE_MEMORY_LIMIT == "64MB"
    assert memory_limit(memory_capped=True) == "61.0 MiB"  # DuckDB's rendering of 64MB
    assert memory_limit(memory_capped=True, checkpoint_on_close=False) == "61.0 MiB"
    assert memory_limit().endswith("GiB")


def test_a_batch_larger_than_the_cap_is_written_with_room_for_itself(
    store: Store, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4 batches of 400 traces of 8 KB (6.4M characters each) under a 16MB cap: without room for the batch, DuckDB
    # runs out of memory at the first; with it, the limit is the cap plus the batch's room, whatever the store.
    monkeypatch.setattr(connection, "BATCH_WRITE_MEMORY_LIMIT", "16MB")
    store.migrate()
    limits = []
    for number in range(4):
        samples, verdicts = batch(number, 400, text_bytes=8000)
        with store.transaction(checkpoint_on_close=False, memory_capped=True) as con:
            assert write_batch(con, samples, verdicts)[0] == 400
            ((limit,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
            limits.append(limit)
    assert counts(db) == (1600, 3200)
    assert len(set(limits)) == 1 and limits[0].endswith("MiB") and float(limits[0].split()[0]) < (16 + 4 * 6.5) / 1.04
    with store.transaction(checkpoint_on_close=False, memory_capped=True) as con:  # the cap alone again
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("15.2 MiB",)]
