"""Prompt import: the common shapes, three file formats, idempotence, every bad-input case with FILE:LINE."""

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import run_cli

from cotfactory.filters.parse import last_boxed
from cotfactory.flows.import_prompts import import_prompts
from cotfactory.storage import InputError, Store, query

MATH500_ROWS = [
    {
        "problem": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.",
        "solution": "So $r = 3$, $\\theta = \\frac{\\pi}{2}$: $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
        "answer": "\\left( 3, \\frac{\\pi}{2} \\right)",
        "subject": "Precalculus",
        "level": 2,
        "unique_id": "test/precalculus/807.json",
    },
    {
        "problem": "What is $\\frac{1}{2} + \\frac{1}{3}$?",
        "solution": "$\\frac{1}{2}+\\frac{1}{3} = \\boxed{\\frac{5}{6}}$",
        "answer": "\\frac{5}{6}",
        "subject": "Prealgebra",
        "level": 1,
        "unique_id": "test/prealgebra/1.json",
    },
]
GSM8K_ROWS = [
    {
        "question": "Janet has 16 eggs, eats 3 and bakes with 4. She sells the rest at $2 each. How much is that?",
        "answer": "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18",
    },
    {
        "question": "A shop sells 1,200 pens a day for 3 days. How many pens?",
        "answer": "1,200 * 3 = <<1200*3=3600>>3,600\n#### 3,600",
    },
]
NUMINA_ROWS = [
    {
        "problem": "Compute $\\sqrt{16}$ divided by two.",
        "solution": "Since $\\sqrt{16} = 4$, half is $\\boxed{\\dfrac{4}{2}=2}$.",
        "source": "synthetic_math",
    }
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def stored(db: Path) -> pl.DataFrame:
    columns = "source, problem, reference, domain, target_language, metadata"
    return query(f"SELECT {columns} FROM prompts ORDER BY problem", db)


def test_math500_shape(tmp_path: Path, store: Store, db: Path) -> None:
    report = import_prompts(store, [write_jsonl(tmp_path / "math500.jsonl", MATH500_ROWS)])
    assert (report.rows, report.new) == (2, 2)
    rows = stored(db)
    assert rows["reference"].to_list() == ["\\left( 3, \\frac{\\pi}{2} \\right)", "\\frac{5}{6}"]
    assert rows["source"].unique().to_list() == ["math500"]
    metadata = json.loads(rows["metadata"][0])
    assert metadata["subject"] == "Precalculus" and "solution" in metadata and "answer" not in metadata


def test_gsm8k_final_answer_follows_hashes(tmp_path: Path, store: Store, db: Path) -> None:
    import_prompts(store, [write_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS)], source="gsm8k", target_language="en")
    rows = stored(db)
    assert rows["reference"].to_list() == ["3,600", "18"]
    assert rows["target_language"].to_list() == ["en", "en"]
    assert "#### 18" in json.loads(rows["metadata"][1])["answer"], "the worked solution is kept as metadata"


def test_numina_answer_is_the_last_boxed(tmp_path: Path, store: Store, db: Path) -> None:
    import_prompts(store, [write_jsonl(tmp_path / "numina.jsonl", NUMINA_ROWS)])
    assert stored(db)["reference"].to_list() == ["\\dfrac{4}{2}=2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{ 2 }", "2"),
        ("\\fbox{x^{2}}", "x^{2}"),
        ("no box", None),
        ("\\boxed{unclosed", None),
    ],
)
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


def test_numbers_lists_and_custom_fields(tmp_path: Path, store: Store, db: Path) -> None:
    rows = [
        {"q": "AMC: how many miles?", "ans": 27.0},
        {"q": "Olympiad: list the values.", "ans": ["1", "2"]},
        {"q": "Pick a letter.", "ans": 3},
    ]
    import_prompts(
        store, [write_jsonl(tmp_path / "x.jsonl", rows)], problem_field="q", answer_field="ans", domain="choice"
    )
    assert dict(stored(db).select("problem", "reference").rows()) == {
        "AMC: how many miles?": "27",
        "Olympiad: list the values.": "1, 2",
        "Pick a letter.": "3",
    }
    assert stored(db)["domain"].unique().to_list() == ["choice"]


def test_parquet_and_csv_give_the_same_prompts(tmp_path: Path, db: Path) -> None:
    frame = pl.DataFrame(MATH500_ROWS)
    frame.write_parquet(tmp_path / "m.parquet")
    frame.write_csv(tmp_path / "m.csv")
    write_jsonl(tmp_path / "m.jsonl", MATH500_ROWS)
    ids = {}
    for name in ("m.jsonl", "m.parquet", "m.csv"):
        path = tmp_path / f"{name}.duckdb"
        report = import_prompts(Store(path), [tmp_path / name])
        assert report.new == 2
        ids[name] = query("SELECT prompt_id, reference FROM prompts ORDER BY 1", path).rows()
    assert ids["m.jsonl"] == ids["m.parquet"] == ids["m.csv"]


def test_reimport_adds_nothing(tmp_path: Path, db: Path) -> None:
    path = write_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS + GSM8K_ROWS[:1])
    first = run_cli("import-prompts", str(path), "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "2 new prompts" in first.stdout and "1 repeated within the input" in first.stdout
    second = run_cli("import-prompts", str(path), "--db", str(db))
    assert "0 new prompts, 2 already in the store" in second.stdout
    assert query("SELECT count(*) AS n FROM prompts", db)["n"][0] == 2


GOOD = b'{"problem": "What is 1+1?", "answer": "2"}'
BAD_LINES = [
    (b'{"problem": "caf\xe9 au lait?"}', "invalid UTF-8 at byte 17"),
    (b'{"problem": "What is 2+2?", ', "not valid JSON"),
    (b'["problem", "a list"]', "not a JSON object (got list)"),
    (b'"just a string"', "not a JSON object (got str)"),
    (b'{"answer": "4"}', "no problem field"),
    (b'{"problem": 42}', "field 'problem' is not a string (got int)"),
    (b'{"problem": "   "}', "field 'problem' is empty"),
    (b'{"problem": "' + b"x" * 3000 + b'"}', "over the 2,000-byte cap"),
    (b'{"problem": "p", "solution": "no boxed answer here"}', "field 'solution' has no \\boxed{} final answer"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=[m for _, m in BAD_LINES])
def test_bad_line_is_reported_with_file_and_line(tmp_path: Path, db: Path, line: bytes, message: str) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(GOOD + b"\n\n" + line + b"\n" + GOOD.replace(b"1+1", b"3+3") + b"\n")
    result = run_cli("import-prompts", str(path), "--db", str(db), "--max-line-bytes", "2000")
    assert result.returncode == 1
    assert f"{path}:3: " in result.stderr
    assert message in result.stderr
    assert "nothing imported" in result.stderr and "Traceback" not in result.stderr
    assert not db.exists() or query("SELECT count(*) AS n FROM prompts", db)["n"][0] == 0


def test_truncated_last_line_without_newline(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_bytes(GOOD + b'\n{"problem": "half a li')
    with pytest.raises(InputError, match=rf"{path}:2: not valid JSON: Unterminated string"):
        import_prompts(store, [path])


def test_missing_named_answer_field_is_an_error(tmp_path: Path, store: Store) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"problem": "a", "gold": "1"}, {"problem": "b"}])
    with pytest.raises(InputError, match=rf"{path}:2: missing field 'gold'"):
        import_prompts(store, [path], answer_field="gold")


def test_csv_errors_name_the_line_where_the_record_starts(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b'problem,answer\n"multi\nline problem",1\nshort\n"bad \xff byte",2\nfine problem,3\n')
    with pytest.raises(InputError) as caught:
        import_prompts(store, [path])
    message = str(caught.value)
    assert f"{path}:4: has 1 fields, the header has 2" in message
    assert f"{path}:5: invalid UTF-8" in message
    assert f"{path}:2:" not in message and f"{path}:6:" not in message


def test_quarantine_imports_the_good_and_keeps_the_bad(tmp_path: Path, db: Path) -> None:
    bad_lines = [line for line, _ in BAD_LINES[:4]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([GOOD, *bad_lines, GOOD.replace(b"1+1", b"5+5")]) + b"\n")
    for _ in range(2):
        result = run_cli("import-prompts", str(path), "--db", str(db), "--on-error", "quarantine")
        assert result.returncode == 0, result.stderr
        assert f"{path}:2: invalid UTF-8" in result.stderr
    assert query("SELECT count(*) AS n FROM prompts", db)["n"][0] == 2
    kept = query("SELECT file, line, raw, error FROM quarantine ORDER BY line", db)
    assert kept["line"].to_list() == [2, 3, 4, 5]
    assert kept["raw"].to_list() == bad_lines, "quarantined bytes are the input bytes"
    assert kept["file"].unique().to_list() == [str(path)]


def test_unknown_file_type_and_missing_file(tmp_path: Path, store: Store) -> None:
    (tmp_path / "p.xml").write_text("<p/>")
    with pytest.raises(InputError, match=r"unknown file type '\.xml'"):
        import_prompts(store, [tmp_path / "p.xml"])
    with pytest.raises(InputError, match="no such file"):
        import_prompts(store, [tmp_path / "absent.jsonl"])


@pytest.mark.realdata
def test_real_problem_sets_import_cleanly(shared_data: Path, store: Store, db: Path) -> None:
    problems = shared_data / "problems"
    files = {
        "math500": problems / "math500" / "math500.jsonl",
        "gsm8k": problems / "gsm8k" / "gsm8k_test.jsonl",
        "amc23": problems / "amc23" / "amc23.jsonl",
        "cmath": problems / "cmath_zh" / "cmath.jsonl",
    }
    for source, path in files.items():
        report = import_prompts(store, [path], source=source)
        assert not report.bad_rows
    counts = dict(query("SELECT source, count(reference) FROM prompts GROUP BY 1", db).rows())
    assert counts == {"math500": 500, "gsm8k": 1319, "amc23": 40, "cmath": 600}
    gsm_refs = query("SELECT reference FROM prompts WHERE source = 'gsm8k'", db)["reference"]
    assert gsm_refs.str.contains(r"^-?[\d,\.]+$").all(), "every GSM8K reference is the number after ####"
