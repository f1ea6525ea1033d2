"""Schema: records equal the table columns; migrations from fresh, from older files, refusing newer ones."""

from pathlib import Path

import duckdb
import pytest
from helpers import run_cli, seed_store

from cotfactory.storage import SchemaError, Store, query
from cotfactory.storage.migrations import LATEST_VERSION, MIGRATIONS, migrate
from cotfactory.storage.records import ALL_RECORDS, Record


@pytest.mark.parametrize("record", ALL_RECORDS, ids=lambda r: r.table)
def test_record_fields_are_the_table_columns(store: Store, db: Path, record: type[Record]) -> None:
    store.migrate()
    columns = query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        db,
        params=[record.table],
    )["column_name"].to_list()
    assert columns == record.columns()


def test_fresh_store_is_at_the_latest_version(store: Store, db: Path) -> None:
    assert store.migrate() == LATEST_VERSION
    versions = query("SELECT version FROM schema_migrations ORDER BY version", db)["version"].to_list()
    assert versions == [m.version for m in MIGRATIONS]
    views = set(query("SELECT view_name FROM duckdb_views() WHERE NOT internal", db)["view_name"])
    assert {"accepted", "funnel", "prompt_stats"} <= views


def test_older_file_is_migrated_and_keeps_its_rows(db: Path) -> None:
    con = duckdb.connect(str(db))
    assert migrate(con, str(db), upto=1) == 1
    con.execute(
        "INSERT INTO prompts VALUES "
        "('00000000000000aa', 'old', 'What is 2+2?', '4', 'math', NULL, '{}', now()::TIMESTAMP)"
    )
    con.close()

    with pytest.raises(SchemaError, match="cotfactory migrate"):
        query("SELECT 1", db)  # a reader does not migrate behind the user's back

    result = run_cli("migrate", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert f"schema version {LATEST_VERSION}" in result.stdout
    assert query("SELECT problem FROM prompts", db)["problem"].to_list() == ["What is 2+2?"]
    assert query("SELECT count(*) AS n FROM quarantine", db)["n"][0] == 0
    assert query("SELECT sampled FROM prompt_stats", db)["sampled"].to_list() == [0]


def test_newer_file_is_refused_with_a_clear_message(store: Store, db: Path) -> None:
    store.migrate()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', now()::TIMESTAMP)")
    con.close()
    with pytest.raises(SchemaError, match=r"schema version 99.*upgrade cotfactory"):
        Store(db).migrate()
    with pytest.raises(SchemaError, match="upgrade cotfactory"):
        query("SELECT 1", db)
    result = run_cli("sql", "SELECT 1", "--db", str(db))
    assert result.returncode == 1
    assert "schema version 99" in result.stderr
    assert "Traceback" not in result.stderr


def test_foreign_duckdb_file_is_not_taken_for_a_store(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE weather (city VARCHAR)")
    con.close()
    with pytest.raises(SchemaError, match="not a cotfactory store"):
        Store(db).migrate()


def test_views_count_what_the_tables_hold(store: Store, db: Path) -> None:
    seed_store(store, batches=2, size=10)
    funnel = query("SELECT check_name, reason, samples, share FROM funnel ORDER BY reason", db)
    assert funnel.rows() == [("accepted", "accepted", 10, 0.5), ("correctness", "wrong_answer", 10, 0.5)]
    assert funnel["samples"].sum() == query("SELECT count(*) AS n FROM samples", db)["n"][0]
    assert query("SELECT count(*) AS n FROM accepted", db)["n"][0] == 10
    stats = query("SELECT sum(sampled) AS sampled, sum(accepted) AS accepted FROM prompt_stats", db)
    assert stats.rows() == [(20, 10)]
