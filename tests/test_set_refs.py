"""Set references: NAME and NAME@VERSION parsed one way, and any name a set may hold (quotes, NULs, other
scripts, `@`, lone surrogates) selecting exactly its own members in export and the report."""

import html
from pathlib import Path

import pytest
from helpers import run_cli, seed_store

from cotfactory.flows.report_data import report_data
from cotfactory.storage import Store, open_read_only, query
from cotfactory.storage.export import export_samples
from cotfactory.storage.set_refs import SetRefError, parse_set_ref

HOSTILE_NAMES = [
    "it's",
    "x' OR '1'='1",
    'double "quoted"',
    "nul\x00byte",
    "数学 集合",
    "emoji 🧮 set",
    "a@b",
    "v@٣",  # an Arabic-Indic digit: int() reads it, a reference does not
    "back\\slash; DROP TABLE sets; --",
    "lone \ud800 surrogate",
]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("math", ("math", None)),
        ("math@2", ("math", 2)),
        ("math@0002", ("math", 2)),
        ("a@b", ("a@b", None)),
        ("a@b@3", ("a@b", 3)),
        ("v@٣", ("v@٣", None)),
        ("nul\x00@1", ("nul\x00", 1)),
        ("lone \ud800", ("lone \\ud800", None)),  # as the store holds it
    ],
)
def test_a_reference_names_a_set_and_maybe_a_version(ref: str, expected: tuple[str, int | None]) -> None:
    assert parse_set_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "@", "@1", "math@", "a@b@"])
def test_a_malformed_reference_is_refused_clearly(ref: str) -> None:
    with pytest.raises(SetRefError, match="expected NAME or NAME@VERSION"):
        parse_set_ref(ref)


@pytest.fixture
def seeded(store: Store, db: Path) -> list[str]:
    """Run r1's 10 accepted samples, all of them in a decoy set `x`, whose name a quoted name would reach."""
    seed_store(store, batches=2, size=10, run_id="r1")
    accepted = query("SELECT sample_id FROM accepted ORDER BY sample_id", db)["sample_id"].to_list()
    store.add_set("x", {}, accepted)
    return accepted


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_any_set_name_selects_its_own_members(
    store: Store, db: Path, seeded: list[str], name: str, tmp_path: Path
) -> None:
    record = store.add_set(name, {"where": name}, seeded[:3])
    store.add_set(name, {}, seeded[:2])
    assert (record.version, record.row_count) == (1, 3)
    for ref, rows in ((name, 2), (f"{name}@1", 3), (f"{name}@2", 2)):
        manifest = export_samples(db, tmp_path / str(len(list(tmp_path.iterdir()))), set_ref=ref)
        assert manifest["rows"] == rows and manifest["selection"]["set"] == record.name
        with open_read_only(db) as con:
            assert report_data(con, set_ref=ref).summary["samples"] == rows
    with pytest.raises(SetRefError, match="has no version 3"):
        export_samples(db, tmp_path / "none", set_ref=f"{name}@3")


def test_a_quoted_reference_to_no_set_selects_nothing(db: Path, seeded: list[str], tmp_path: Path) -> None:
    for ref in ("x' OR '1'='1", "x'--", "x@1 OR TRUE"):
        with pytest.raises(SetRefError, match="no set named"):
            export_samples(db, tmp_path / "out", set_ref=ref)
    assert not (tmp_path / "out").exists()


def test_the_cli_takes_a_hostile_name_from_curate_to_export(db: Path, seeded: list[str], tmp_path: Path) -> None:
    name = 'it\'s 数学 "set"'
    curated = run_cli("curate", name, "--per-prompt", "1", "--db", str(db))
    assert curated.returncode == 0, curated.stderr
    exported = run_cli("export", "--set", f"{name}@1", "--out", str(tmp_path / "out"), "--db", str(db))
    assert exported.returncode == 0, exported.stderr
    assert "10 rows" in exported.stdout
    reported = run_cli("report", "--set", name, "--db", str(db), "--out", str(tmp_path / "r.html"))
    assert reported.returncode == 0, reported.stderr
    assert f"<h1>cotfactory report: {html.escape(f'set {name}@1')}</h1>" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("name", ["", "v@2", "v@", "release@2024"])
def test_a_name_a_reference_could_not_name_is_refused(store: Store, name: str) -> None:
    with pytest.raises(SetRefError, match=r"non-empty|would read as a version"):
        store.add_set(name, {}, [])
