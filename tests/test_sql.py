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


def test_tables_fit_the_terminal_cut_long_cells_and_right_align_numbers(seeded: Path) -> None:
    statement = (
        "SELECT sample_id, repeat('long reasoning ', 40) || chr(10) || 'next line' AS reasoning, "
        "completion_tokens * 1000 AS tokens, accepted FROM samples ORDER BY sample_id"
    )
    for columns in (80, 120):
        result = run_cli("sql", statement, "--db", str(seeded), env={"COLUMNS": str(columns)})
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert all(len(line) <= columns for line in lines), max(len(line) for line in lines)
        rows = [line for line in lines if "long reasoning" in line]
        assert len(rows) == 6  # one line per row: the newline in a cell is shown, not printed
        assert all("…" in row for row in rows)
        assert "shape:" not in result.stdout and "6 rows" in result.stdout
    header = next(line for line in lines if "tokens" in line)
    first = rows[0]
    # a number ends where its column's header ends: right-aligned
    tokens_end = header.index("tokens") + len("tokens")
    assert first[tokens_end - 1].isdigit() and not first[tokens_end].isdigit()


def test_tables_show_hostile_text_on_one_line_and_say_what_was_left_out(seeded: Path) -> None:
    statement = "SELECT 'a' || chr(0) || 'b' || chr(27) || '[31m' || chr(10) || 'c' AS text FROM range(60)"
    result = run_cli("sql", statement, "--db", str(seeded), "--max-rows", "5")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x00" not in result.stdout
    assert result.stdout.count("a\\x00b\\x1b[31m⏎c") == 5
    assert "60 rows, 55 not shown" in result.stdout


def test_a_few_rows_too_wide_for_the_terminal_are_shown_as_column_value_pairs(seeded: Path) -> None:
    result = run_cli("status", "run-1", "--db", str(seeded), env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # the run's ten columns do not fit 80 columns: one line per column, nothing cut
    pairs = [[cell.strip() for cell in line.split("│")[1:3]] for line in lines if line.count("│") == 3]
    assert ["status", "running"] in pairs and ["model", "tiny"] in pairs, lines
    assert any("run-1" in line and "run_id" in line for line in lines)
    wide = run_cli("status", "run-1", "--db", str(seeded), env={"COLUMNS": "200"})
    assert any("run_id" in line and "status" in line and "model" in line for line in wide.stdout.splitlines())


def test_status_shows_the_funnel_view_of_the_run(seeded: Path) -> None:
    from cotfactory.storage import open_read_only
    from cotfactory.storage.funnel import run_funnel

    with open_read_only(seeded) as con:
        funnel = run_funnel(con, "run-1")
    assert [(r.check_name, r.reason, r.samples, r.share) for r in funnel] == [
        ("accepted", "accepted", 3, 0.5),
        ("correctness", "wrong_answer", 3, 0.5),
    ]
    shown = run_cli("status", "run-1", "--db", str(seeded))
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("│")[1:5] for line in shown.stdout[shown.stdout.index("funnel") :].splitlines()]
    shown_rows = [[cell.strip() for cell in row] for row in rows if len(row) == 4]
    assert shown_rows == [["accepted", "accepted", "3", "0.5"], ["correctness", "wrong_answer", "3", "0.5"]]
