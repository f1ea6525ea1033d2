"""Schema: records equal the table columns; migrations from fresh, from older files, refusing newer ones."""

from pathlib import Path

import duckdb
import pytest
from helpers import run_cli, seed_store, store_batch

from cotfactory.storage import SchemaError, Store, query
from cotfactory.storage.migrations import LATEST_VERSION, MIGRATIONS, migrate
from cotfactory.storage.records import ALL_RECORDS, JudgedSample, Record


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
    assert {"accepted", "funnel", "prompt_stats", "run_cost"} <= views


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


def test_a_store_of_the_one_table_samples_schema_migrates_with_its_samples_verdicts_and_sets(db: Path) -> None:
    """Version 7 kept one `samples` row per completion with its run's outcome; version 8 splits it into
    completions and per-run outcomes, and gives verdicts their run."""
    con = duckdb.connect(str(db))
    assert migrate(con, str(db), upto=7) == 7
    con.execute(
        "INSERT INTO prompts VALUES ('p1', 'old', 'What is 2+2?', '4', 'math', NULL, '{}', now()::TIMESTAMP, NULL)"
    )
    con.execute(
        "INSERT INTO samples VALUES "
        "('s1', 'p1', 'r1', 0, 0, 7, 'a</think>\\boxed{4}', 'a', '\\boxed{4}', 'stop', 5, 9, true, NULL, "
        "now()::TIMESTAMP), "
        "('s2', 'p1', 'r1', 0, 1, 7, 'b</think>\\boxed{5}', 'b', '\\boxed{5}', 'stop', 5, 8, false, 'wrong_answer', "
        "now()::TIMESTAMP)"
    )
    con.execute(
        "INSERT INTO verdicts VALUES ('s1', 'math_verify', true, 1.0, NULL, '4'), "
        "('s2', 'think_format', true, NULL, NULL, NULL), ('s2', 'math_verify', false, 0.0, 'wrong_answer', '5')"
    )
    con.execute("INSERT INTO sets VALUES ('best', 1, now()::TIMESTAMP, '{}', 1)")
    con.execute("INSERT INTO set_members VALUES ('best', 1, 's1')")
    con.close()

    assert Store(db).migrate() == LATEST_VERSION
    assert query(
        "SELECT sample_id, run_id, sample_index, seed, accepted, reject_check, reject_reason, completion_tokens "
        "FROM samples ORDER BY sample_id",
        db,
    ).rows() == [
        ("s1", "r1", 0, 7, True, None, None, 9),
        ("s2", "r1", 1, 7, False, "math_verify", "wrong_answer", 8),
    ]
    assert query("SELECT count(*) AS n FROM completions", db)["n"][0] == 2
    assert query("SELECT run_id, sample_id, check_name, detail FROM verdicts ORDER BY ALL", db).rows() == [
        ("r1", "s1", "math_verify", "4"),
        ("r1", "s2", "math_verify", "5"),
        ("r1", "s2", "think_format", None),
    ]
    assert query("SELECT check_name, reason, samples FROM funnel ORDER BY ALL", db).rows() == [
        ("accepted", "accepted", 1),
        ("math_verify", "wrong_answer", 1),
    ]
    assert query("SELECT name, version, sample_id FROM set_members", db).rows() == [("best", 1, "s1")]
    assert query("SELECT run_id, sampled, accepted FROM prompt_stats", db).rows() == [("r1", 2, 1)]
    # no round records before version 4: the run's cost falls back to its samples' token counts
    assert query(
        "SELECT run_id, samples, accepted, generated_tokens, tokens_per_accepted FROM run_cost", db
    ).rows() == [("r1", 2, 1, 17, 17.0)]


def test_one_completion_judged_by_two_runs_has_an_outcome_and_verdicts_in_each(store: Store, db: Path) -> None:
    from helpers import batch, prompt

    first, first_verdicts = batch(0, 4, run_id="r1")
    store.add_prompts([prompt(i) for i in range(4)])
    store_batch(store, first, first_verdicts)
    # The same completions judged again by another run, which rejects all of them.
    rejected = {"run_id": "r2", "accepted": False, "reject_reason": "too_long"}
    again = [JudgedSample(s.completion, s.outcome.model_copy(update=rejected)) for s in first]
    verdicts = [v.model_copy(update={"run_id": "r2"}) for v in first_verdicts]
    assert store_batch(store, again, verdicts) == 4
    assert store_batch(store, again, verdicts) == 0, "each run's outcome is stored once"
    assert query("SELECT count(*) AS n FROM completions", db)["n"][0] == 4
    assert query("SELECT run_id, count(*) AS n FROM verdicts GROUP BY 1 ORDER BY 1", db).rows() == [
        ("r1", 8),
        ("r2", 8),
    ]
    assert query("SELECT run_id, count(*) AS n FROM accepted GROUP BY 1", db).rows() == [("r1", 2)]
