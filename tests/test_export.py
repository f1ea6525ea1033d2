"""Export: chat-shaped JSONL shards, byte-identical reruns, checksummed manifest, clear errors."""

import json
from pathlib import Path

import pytest
import xxhash
from helpers import run_cli, seed_store, store_batch

from cotfactory.storage import JudgedSample, RunRecord, Store, query
from cotfactory.storage.export import ExportError, export_samples, verify_export
from cotfactory.storage.set_refs import SetRefError


@pytest.fixture
def with_set(store: Store, db: Path) -> Path:
    """20 samples (10 accepted) in run r1, and set `math` v1 of the accepted ones, v2 of three of them."""
    seed_store(store, batches=2, size=10, run_id="r1")
    accepted = query("SELECT sample_id FROM accepted ORDER BY sample_id", db)["sample_id"].to_list()
    store.add_set("math", {"where": "accepted"}, accepted)
    store.add_set("math", {"where": "three"}, accepted[:3])
    return db


def read_rows(out: Path) -> list[dict]:
    return [json.loads(line) for shard in sorted(out.glob("part-*.jsonl")) for line in shard.read_text().splitlines()]


def test_messages_shape(with_set: Path, tmp_path: Path) -> None:
    manifest = export_samples(with_set, tmp_path / "out", set_ref="math@1")
    rows = read_rows(tmp_path / "out")
    assert manifest["rows"] == len(rows) == 10
    sample = query(
        "SELECT s.*, p.problem FROM samples s JOIN prompts p USING (prompt_id) WHERE sample_id = ?",
        with_set,
        params=[rows[0]["id"]],
    ).row(0, named=True)
    assert rows[0]["messages"] == [
        {"role": "user", "content": sample["problem"]},
        {"role": "assistant", "content": f"<think>\n{sample['reasoning']}\n</think>\n\n{sample['answer']}"},
    ]
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    assert manifest["selection"]["set"] == "math" and manifest["selection"]["version"] == 1


def test_latest_version_and_other_formats(with_set: Path, tmp_path: Path) -> None:
    export_samples(with_set, tmp_path / "sg", set_ref="math", shape="sharegpt")
    rows = read_rows(tmp_path / "sg")
    assert len(rows) == 3
    assert [turn["from"] for turn in rows[0]["conversations"]] == ["human", "gpt"]
    export_samples(with_set, tmp_path / "pc", set_ref="math", shape="prompt-completion")
    row = read_rows(tmp_path / "pc")[0]
    assert row["prompt"][0]["role"] == "user" and row["completion"][0]["content"].startswith("<think>\n")


def test_shards_split_by_rows_and_bytes(with_set: Path, tmp_path: Path) -> None:
    by_rows = export_samples(with_set, tmp_path / "rows", set_ref="math@1", shard_rows=3)
    assert [shard["rows"] for shard in by_rows["shards"]] == [3, 3, 3, 1]
    by_bytes = export_samples(with_set, tmp_path / "bytes", set_ref="math@1", shard_bytes=2500)
    assert all(shard["bytes"] <= 2500 for shard in by_bytes["shards"]) and len(by_bytes["shards"]) > 3
    assert read_rows(tmp_path / "rows") == read_rows(tmp_path / "bytes")


def test_reexport_is_byte_identical_and_checksums_hold(with_set: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = run_cli(
            "export", "--set", "math@1", "--out", str(tmp_path / name), "--db", str(with_set), "--shard-rows", "4"
        )
        assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["README.md", "manifest.json", "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    for shard in manifest["shards"]:
        content = (tmp_path / "a" / shard["file"]).read_bytes()
        assert xxhash.xxh3_64_hexdigest(content) == shard["xxh3_64"]
        assert len(content) == shard["bytes"] and content.count(b"\n") == shard["rows"]
    assert verify_export(tmp_path / "a") == []
    (tmp_path / "a" / "part-00001.jsonl").write_bytes(b"{}\n")
    assert any("checksum" in problem for problem in verify_export(tmp_path / "a"))


def test_run_export_takes_accepted_samples(with_set: Path, tmp_path: Path) -> None:
    manifest = export_samples(with_set, tmp_path / "run", run_id="r1")
    assert manifest["rows"] == 10
    assert manifest["selection"]["run"] == "r1" and manifest["selection"]["sampler"] == {"kind": "test"}


def test_sample_without_separate_reasoning_exports_as_sampled(store: Store, db: Path, tmp_path: Path) -> None:
    seed_store(store, batches=1, size=1, run_id="r2")
    plain = JudgedSample.create(prompt_id="p" * 16, model="m", completion="Just 4.", run_id="r3", accepted=True)
    store.start_run(RunRecord(run_id="r3", model="m"))
    store.add_prompts([])
    store_batch(store, [plain])
    with store.transaction() as con:
        con.execute(
            "INSERT INTO prompts VALUES (?, 's', 'What is 2+2?', '4', 'math', NULL, '{}', now()::TIMESTAMP, NULL)",
            ["p" * 16],
        )
    export_samples(db, tmp_path / "o", run_id="r3")
    assert read_rows(tmp_path / "o")[0]["messages"][1]["content"] == "Just 4."


def test_errors_are_clear(with_set: Path, tmp_path: Path) -> None:
    unknown = run_cli("export", "--set", "nope", "--out", str(tmp_path / "x"), "--db", str(with_set))
    assert unknown.returncode == 1
    assert "no set named 'nope' (known: math@1, math@2)" in unknown.stderr and "Traceback" not in unknown.stderr
    with pytest.raises(SetRefError, match="has no version 7"):
        export_samples(with_set, tmp_path / "y", set_ref="math@7")
    with pytest.raises(ExportError, match="no run with id"):
        export_samples(with_set, tmp_path / "y", run_id="missing")
    with pytest.raises(ExportError, match="exactly one of"):
        export_samples(with_set, tmp_path / "y")
    export_samples(with_set, tmp_path / "z", set_ref="math")
    with pytest.raises(ExportError, match=r"not empty.*--overwrite"):
        export_samples(with_set, tmp_path / "z", set_ref="math@1")
    assert export_samples(with_set, tmp_path / "z", set_ref="math@1", overwrite=True)["rows"] == 10
    assert len(list((tmp_path / "z").glob("part-*.jsonl"))) == 1


def load_with_datasets(folder: Path):
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset(str(folder), split="train", cache_dir=str(folder.parent / "hf-cache"))


@pytest.mark.parametrize("shape", ["messages", "sharegpt", "prompt-completion"])
@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_datasets_loads_an_export_whose_rows_and_features_match_the_manifest_and_card(
    with_set: Path, tmp_path: Path, shape: str, file_format: str
) -> None:
    out = tmp_path / f"{shape}-{file_format}"
    manifest = export_samples(with_set, out, set_ref="math@1", shape=shape, file_format=file_format, shard_rows=4)  # type: ignore[arg-type]
    assert [shard["file"].rsplit(".", 1)[1] for shard in manifest["shards"]] == [file_format] * 3
    assert verify_export(out) == []
    loaded = load_with_datasets(out)
    assert loaded.num_rows == manifest["rows"] == 10
    expected_columns = {"messages": ["messages", "id"], "sharegpt": ["conversations", "id"]}.get(
        shape, ["prompt", "completion", "id"]
    )
    assert loaded.column_names == expected_columns
    # the features the card declares are the ones datasets reads
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "size_categories:\n- n<1K" in card and "num_examples: 10" in card
    assert "license:" in card and "r1" in card  # the license is the user's to set; the source run is named
    turn = loaded.features[expected_columns[0]]
    first_field = "from" if shape == "sharegpt" else "role"
    assert first_field in (turn[0] if isinstance(turn, list) else turn.feature)
    ids = sorted(loaded["id"])
    assert ids == sorted(query("SELECT sample_id FROM set_members WHERE version = 1", with_set)["sample_id"])


def test_parquet_rows_equal_the_jsonl_rows(with_set: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    export_samples(with_set, tmp_path / "j", set_ref="math@1")
    manifest = export_samples(with_set, tmp_path / "p", set_ref="math@1", file_format="parquet")
    parquet_rows = [
        row for shard in manifest["shards"] for row in pq.read_table(tmp_path / "p" / shard["file"]).to_pylist()
    ]
    assert parquet_rows == read_rows(tmp_path / "j")


def test_export_cli_takes_the_file_format_and_the_row_shape_apart(with_set: Path, tmp_path: Path) -> None:
    result = run_cli(
        "export", "--set", "math@1", "--out", str(tmp_path / "p"), "--format", "parquet", "--db", str(with_set)
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "p").iterdir()) == [
        "README.md",
        "manifest.json",
        "part-00000.parquet",
    ]
    shaped = run_cli(
        "export", "--set", "math@1", "--out", str(tmp_path / "sg"), "--shape", "sharegpt", "--db", str(with_set)
    )
    assert shaped.returncode == 0, shaped.stderr
    assert "conversations" in read_rows(tmp_path / "sg")[0]
    # a row shape given as --format (its spelling before --shape) is refused, naming the option it belongs to
    old = run_cli(
        "export", "--set", "math@1", "--out", str(tmp_path / "o"), "--format", "sharegpt", "--db", str(with_set)
    )
    assert old.returncode == 1 and "--shape sharegpt" in old.stderr and not (tmp_path / "o").exists()
    bad = run_cli("export", "--set", "math@1", "--out", str(tmp_path / "x"), "--format", "csv", "--db", str(with_set))
    assert bad.returncode == 1 and "jsonl, parquet" in bad.stderr and not (tmp_path / "x").exists()
