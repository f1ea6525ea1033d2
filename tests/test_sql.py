"""`cotfactory sql` and `query`: read-only, several output formats, clear errors."""

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import run_cli, seed_store

from cotfactory.storage import Store, StoreError, query

COUNT_BY_ACCEPTED = "SELECT accepted, count(*) AS n FROM samples GROUP BY 1 ORDER BY 1"


@pytest.fixture
def seeded(store: Store, db: Path) -> Path:
    seed_store(store, batches=1, size=6)
    return db


def test_query_returns_a_polars_frame(seeded: Path) -> None:
    frame = query(COUNT_BY_ACCEPTED, seeded)
    assert isinstance(frame, pl.DataFrame)
    assert frame.rows() == [(False, 3), (True, 3)]


def test_formats(seeded: Path, tmp_path: Path) -> None:
    table = run_cli("sql", COUNT_BY_ACCEPTED, "--db", str(seeded))
    assert table.returncode == 0, table.stderr
    assert "accepted" in table.stdout and "│" in table.stdout
    csv = run_cli("sql", COUNT_BY_ACCEPTED, "--db", str(seeded), "--format", "csv")
    assert csv.stdout.splitlines() == ["accepted,n", "false,3", "true,3"]
    as_json = run_cli("sql", COUNT_BY_ACCEPTED, "--db", str(seeded), "--format", "json")
    assert json.loads(as_json.stdout) == [{"accepted": False, "n": 3}, {"accepted": True, "n": 3}]
    ndjson = run_cli("sql", COUNT_BY_ACCEPTED, "--db", str(seeded), "--format", "ndjson")
    assert [json.loads(line)["n"] for line in ndjson.stdout.splitlines()] == [3, 3]
    out = tmp_path / "counts.parquet"
    parquet = run_cli("sql", COUNT_BY_ACCEPTED, "--db", str(seeded), "--format", "parquet", "--out", str(out))
    assert parquet.returncode == 0, parquet.stderr
    assert pl.read_parquet(out).rows() == [(False, 3), (True, 3)]
    no_out = run_cli("sql", COUNT_BY_ACCEPTED, "--db", str(seeded), "--format", "parquet")
    assert no_out.returncode == 1 and "--out" in no_out.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM completions",
        "UPDATE outcomes SET accepted = true",
        "DROP TABLE verdicts",
        "DROP VIEW samples",
        "CREATE TABLE t (x INT)",
    ],
)
def test_queries_cannot_change_data(seeded: Path, statement: str) -> None:
    result = run_cli("sql", statement, "--db", str(seeded))
    assert result.returncode == 1
    assert "read-only" in result.stderr and "Traceback" not in result.stderr
    assert query(COUNT_BY_ACCEPTED, seeded).rows() == [(False, 3), (True, 3)]


def test_missing_store_and_bad_sql(tmp_path: Path, seeded: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*import-prompts"):
        query("SELECT 1", tmp_path / "absent.duckdb")
    result = run_cli("sql", "SELEC nonsense", "--db", str(seeded))
    assert result.returncode == 1
    assert "query failed" in result.stderr and "syntax error" in result.stderr
