"""Export: chat-shaped JSONL shards, byte-identical reruns, checksummed manifest, clear errors."""

import json
from pathlib import Path

import pytest
import xxhash
from helpers import run_cli, seed_store

from cotfactory.storage import RunRecord, SampleRecord, Store, query
from cotfactory.storage.export import ExportError, export_jsonl, verify_export


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
    manifest = export_jsonl(with_set, tmp_path / "out", set_ref="math@1")
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
    export_jsonl(with_set, tmp_path / "sg", set_ref="math", fmt="sharegpt")
    rows = read_rows(tmp_path / "sg")
    assert len(rows) == 3
    assert [turn["from"] for turn in rows[0]["conversations"]] == ["human", "gpt"]
    export_jsonl(with_set, tmp_path / "pc", set_ref="math", fmt="prompt-completion")
    row = read_rows(tmp_path / "pc")[0]
    assert row["prompt"][0]["role"] == "user" and row["completion"][0]["content"].startswith("<think>\n")


def test_shards_split_by_rows_and_bytes(with_set: Path, tmp_path: Path) -> None:
    by_rows = export_jsonl(with_set, tmp_path / "rows", set_ref="math@1", shard_rows=3)
    assert [shard["rows"] for shard in by_rows["shards"]] == [3, 3, 3, 1]
    by_bytes = export_jsonl(with_set, tmp_path / "bytes", set_ref="math@1", shard_bytes=2500)
    assert all(shard["bytes"] <= 2500 for shard in by_bytes["shards"]) and len(by_bytes["shards"]) > 3
    assert read_rows(tmp_path / "rows") == read_rows(tmp_path / "bytes")


def test_reexport_is_byte_identical_and_checksums_hold(with_set: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = run_cli(
            "export", "--set", "math@1", "--out", str(tmp_path / name), "--db", str(with_set), "--shard-rows", "4"
        )
        assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["manifest.json", "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
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
    manifest = export_jsonl(with_set, tmp_path / "run", run_id="r1")
    assert manifest["rows"] == 10
    assert manifest["selection"]["run"] == "r1" and manifest["selection"]["sampler"] == {"kind": "test"}


def test_sample_without_separate_reasoning_exports_as_sampled(store: Store, db: Path, tmp_path: Path) -> None:
    seed_store(store, batches=1, size=1, run_id="r2")
    plain = SampleRecord.create(prompt_id="p" * 16, model="m", completion="Just 4.", run_id="r3", accepted=True)
    store.start_run(RunRecord(run_id="r3", model="m"))
    store.add_prompts([])
    store.write_batch([plain])
    with store.transaction() as con:
        con.execute(
            "INSERT INTO prompts VALUES (?, 's', 'What is 2+2?', '4', 'math', NULL, '{}', now()::TIMESTAMP, NULL)",
            ["p" * 16],
        )
    export_jsonl(db, tmp_path / "o", run_id="r3")
    assert read_rows(tmp_path / "o")[0]["messages"][1]["content"] == "Just 4."


def test_errors_are_clear(with_set: Path, tmp_path: Path) -> None:
    unknown = run_cli("export", "--set", "nope", "--out", str(tmp_path / "x"), "--db", str(with_set))
    assert unknown.returncode == 1
    assert "no set named 'nope' (known: math@1, math@2)" in unknown.stderr and "Traceback" not in unknown.stderr
    with pytest.raises(ExportError, match="has no version 7"):
        export_jsonl(with_set, tmp_path / "y", set_ref="math@7")
    with pytest.raises(ExportError, match="no run with id"):
        export_jsonl(with_set, tmp_path / "y", run_id="missing")
    with pytest.raises(ExportError, match="exactly one of"):
        export_jsonl(with_set, tmp_path / "y")
    export_jsonl(with_set, tmp_path / "z", set_ref="math")
    with pytest.raises(ExportError, match=r"not empty.*--overwrite"):
        export_jsonl(with_set, tmp_path / "z", set_ref="math@1")
    assert export_jsonl(with_set, tmp_path / "z", set_ref="math@1", overwrite=True)["rows"] == 10
    assert len(list((tmp_path / "z").glob("part-*.jsonl"))) == 1
