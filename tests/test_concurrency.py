"""A reader process gets answers while a writer process commits batches; a SIGKILLed writer loses no commit."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TESTS, batch, run_cli, store_batch

from cotfactory.storage import Store, query


def start_writer(db: Path, first: int, count: int, size: int, text_bytes: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    numbers = [str(n) for n in (first, count, size, text_bytes)]
    args = [sys.executable, str(TESTS / "writer_process.py"), str(db), *numbers]
    writer = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready", writer.stderr.read() if writer.stderr else ""
    return writer


@pytest.mark.slow
def test_sql_reader_runs_while_a_writer_commits(db: Path) -> None:
    batches, size = 80, 40
    writer = start_writer(db, 0, batches, size, text_bytes=8000)
    assert writer.stdout is not None
    assert writer.stdout.readline().startswith("committed")
    seen = []
    while writer.poll() is None and len(seen) < 40:
        result = run_cli("sql", "SELECT count(*) AS n FROM samples", "--db", str(db), "--format", "csv")
        assert result.returncode == 0, result.stderr
        seen.append(int(result.stdout.splitlines()[1]))
    writer.stdout.read()
    assert writer.wait(timeout=300) == 0
    assert seen == sorted(seen), "a reader saw rows disappear"
    assert all(n % size == 0 for n in seen), "a reader saw part of a batch"
    assert any(0 < n < batches * size for n in seen), "no read happened between two commits"
    assert query("SELECT count(*) AS n FROM samples", db)["n"][0] == batches * size
    assert query("SELECT count(*) AS n FROM verdicts", db)["n"][0] == 2 * batches * size


@pytest.mark.slow
def test_sigkill_mid_write_keeps_exactly_the_committed_batches(db: Path) -> None:
    batches, size = 12, 200
    writer = start_writer(db, 0, batches, size, text_bytes=8000)
    assert writer.stdout is not None
    announced = -1
    while announced < 3:
        announced = int(writer.stdout.readline().split()[1])
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=60)
    # commits announced before the kill but not read yet are still in the pipe
    for line in writer.stdout.read().splitlines():
        announced = max(announced, int(line.split()[1]))

    per_batch = query("SELECT seed // 1000003 AS batch, count(*) AS n FROM samples GROUP BY 1 ORDER BY 1", db).rows()
    stored = [number for number, _ in per_batch]
    assert stored == list(range(len(stored))), "batches are committed in order, none skipped"
    assert all(n == size for _, n in per_batch), "a batch was stored in part"
    assert announced + 1 <= len(stored) <= announced + 2, "only the announced batches and the one in flight"
    unjudged = query("SELECT count(*) AS n FROM samples s ANTI JOIN verdicts v USING (sample_id)", db)["n"][0]
    assert unjudged == 0

    store = Store(db)
    new = sum(store_batch(store, *batch(number, size, text_bytes=8000)) for number in range(batches))
    assert new == (batches - len(stored)) * size
    assert query("SELECT count(*) AS n, count(DISTINCT sample_id) AS d FROM samples", db).rows() == [
        (batches * size, batches * size)
    ]
    assert query("SELECT count(*) AS n FROM verdicts", db)["n"][0] == 2 * batches * size
