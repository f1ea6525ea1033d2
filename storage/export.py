"""Export of a set or a run's accepted samples as JSONL or Parquet shards, with a checksummed manifest and a
dataset card that `datasets.load_dataset(FOLDER)` and the Hugging Face Hub read.

Rows are streamed from DuckDB in Arrow batches and shaped by polars, so memory stays bounded by the batch
size, and the output is ordered by sample id, so exporting twice gives byte-identical JSONL shards.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from cotfactory.storage.connection import limit_memory
from cotfactory.storage.dataset_card import CARD, card_text
from cotfactory.storage.errors import StoreError
from cotfactory.storage.query import open_read_only
from cotfactory.storage.records import package_version
from cotfactory.storage.row_shapes import ROW_SHAPES, ExportError, RowShape, check_shape, row_expression
from cotfactory.storage.set_refs import resolve_set
from cotfactory.storage.shards import JsonlShardWriter, Lines, ParquetShardWriter

__all__ = ["FILE_FORMATS", "ROW_SHAPES", "ExportError", "FileFormat", "RowShape", "export_samples", "verify_export"]

FileFormat = Literal["jsonl", "parquet"]
FILE_FORMATS: tuple[str, ...] = ("jsonl", "parquet")
MANIFEST = "manifest.json"
_READ_BATCH_ROWS = 8192

_ROWS_SQL = """
SELECT s.sample_id, p.problem, s.reasoning, s.answer,
       CASE WHEN s.reasoning IS NULL THEN s.completion END AS completion
FROM completions s JOIN prompts p ON p.prompt_id = s.prompt_id
WHERE {where}
ORDER BY s.sample_id
"""


@dataclass(frozen=True)
class Selection:
    """The exported samples: an SQL predicate over completions `s`, its parameters, and what it selects."""

    where: str
    params: list[Any]
    described: dict[str, Any]


def _select_set(con: duckdb.DuckDBPyConnection, ref: str) -> Selection:
    chosen = resolve_set(con, ref)
    where, params = chosen.members("s.sample_id")
    described = {"set": chosen.name, "version": chosen.version, "spec": chosen.spec, "row_count": chosen.row_count}
    return Selection(where, params, described)


def _select_run(con: duckdb.DuckDBPyConnection, run_id: str) -> Selection:
    rows = con.execute(
        "SELECT model, sampler, sampling, checks, status FROM runs WHERE run_id = ?", [run_id]
    ).fetchall()
    if not rows:
        raise ExportError(f'no run with id {run_id!r} (cotfactory sql "select run_id, status from runs" lists them)')
    model, sampler, sampling, checks, status = rows[0]
    where = "s.sample_id IN (SELECT sample_id FROM outcomes WHERE run_id = ? AND accepted)"
    described = {
        "run": run_id,
        "status": status,
        "model": model,
        "sampler": json.loads(sampler or "{}"),
        "sampling": json.loads(sampling or "{}"),
        "checks": json.loads(checks or "[]"),
    }
    return Selection(where, [run_id], described)


def _batches(con: duckdb.DuckDBPyConnection, selection: Selection) -> Iterator[pl.DataFrame]:
    rows = con.sql(_ROWS_SQL.format(where=selection.where), params=selection.params)
    for batch in rows.to_arrow_reader(_READ_BATCH_ROWS):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield frame


def _encoded_batches(con: duckdb.DuckDBPyConnection, selection: Selection, shape: RowShape) -> Iterator[Lines]:
    """The selected rows as newline-terminated JSON lines, batch by batch, without copying them into Python."""
    expression = pl.concat_str([row_expression(shape).struct.json_encode(), pl.lit("\n")])
    for frame in _batches(con, selection):
        array = frame.select(expression).to_series().to_arrow(compat_level=pl.CompatLevel.oldest())
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        yield Lines(array)


def _row_tables(con: duckdb.DuckDBPyConnection, selection: Selection, shape: RowShape) -> Iterator[pa.Table]:
    """The selected rows as Arrow tables of the row shape's columns (plain strings, as the card declares)."""
    expression = row_expression(shape).alias("row")
    for frame in _batches(con, selection):
        yield frame.select(expression).unnest("row").to_arrow(compat_level=pl.CompatLevel.oldest())


def _sources(con: duckdb.DuckDBPyConnection, selection: Selection) -> tuple[list[str], list[str]]:
    """The runs that accepted the selected samples, and their prompts' target languages."""
    runs = con.execute(
        "SELECT DISTINCT o.run_id FROM outcomes o JOIN completions s USING (sample_id) "
        f"WHERE o.accepted AND {selection.where} ORDER BY 1",
        selection.params,
    ).fetchall()
    languages = con.execute(
        "SELECT DISTINCT coalesce(p.target_language, 'en') FROM completions s JOIN prompts p USING (prompt_id) "
        f"WHERE {selection.where} ORDER BY 1",
        selection.params,
    ).fetchall()
    return [run for (run,) in runs], [language for (language,) in languages]


def _prepare(out_dir: Path, overwrite: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = [
        p
        for p in out_dir.iterdir()
        if p.name in (MANIFEST, CARD) or re.fullmatch(r"part-\d{5}\.(jsonl|parquet)", p.name)
    ]
    others = [p for p in out_dir.iterdir() if p not in existing]
    if (existing or others) and not overwrite:
        raise ExportError(f"{out_dir} is not empty; choose an empty folder or pass --overwrite")
    if others:
        raise ExportError(
            f"{out_dir} holds files that are not an export ({others[0].name}, ...); choose another folder"
        )
    for path in existing:
        path.unlink()


def export_samples(
    db: str | Path,
    out_dir: str | Path,
    *,
    set_ref: str | None = None,
    run_id: str | None = None,
    shape: RowShape = "messages",
    file_format: FileFormat = "jsonl",
    shard_rows: int = 100_000,
    shard_bytes: int = 512 * 1024 * 1024,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a set (`name` or `name@version`) or a run's accepted samples as JSONL or Parquet shards of the row
    shape `shape`, plus manifest.json and a dataset card (README.md)."""
    if (set_ref is None) == (run_id is None):
        raise ExportError("export needs exactly one of --set NAME[@VERSION] or --run RUN_ID")
    if shard_rows < 1 or shard_bytes < 1:
        raise ExportError("--shard-rows and --shard-bytes must be positive")
    check_shape(shape)  # before anything is written
    if file_format not in FILE_FORMATS:
        raise ExportError(f"unknown file format {file_format!r}; choose one of {', '.join(FILE_FORMATS)}")
    out_dir = Path(out_dir)
    with open_read_only(db) as con:
        limit_memory(con)
        selection = _select_set(con, set_ref) if set_ref is not None else _select_run(con, run_id or "")
        _prepare(out_dir, overwrite)
        try:
            if file_format == "jsonl":
                writer: JsonlShardWriter | ParquetShardWriter = JsonlShardWriter(out_dir, shard_rows, shard_bytes)
                for lines in _encoded_batches(con, selection, shape):
                    writer.write(lines)  # type: ignore[arg-type]
            else:
                writer = ParquetShardWriter(out_dir, shard_rows, shard_bytes)
                for table in _row_tables(con, selection, shape):
                    writer.write(table)  # type: ignore[arg-type]
            shards = writer.finish()
            source_runs, languages = _sources(con, selection)
        except duckdb.Error as error:
            raise StoreError(f"export failed while reading {db}: {error}") from error
    manifest = {
        "format": shape,  # the row shape, under the key manifests have always used
        "file_format": file_format,
        "selection": selection.described,
        "rows": sum(shard.rows for shard in shards),
        "bytes": sum(shard.bytes for shard in shards),
        "shards": [shard.__dict__ for shard in shards],
        "source_runs": source_runs,
        "languages": languages,
        "package_version": package_version(),
    }
    (out_dir / CARD).write_text(card_text(manifest, shape, f"part-*.{file_format}"), encoding="utf-8")
    # Written last: a folder with a manifest holds a complete export.
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return manifest


def verify_export(out_dir: str | Path) -> list[str]:
    """Re-read every shard listed in the manifest; returns the mismatches found (empty when all is well)."""
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / MANIFEST).read_text())
    problems = []
    for shard in manifest["shards"]:
        content = (out_dir / shard["file"]).read_bytes()
        if xxhash.xxh3_64_hexdigest(content) != shard["xxh3_64"]:
            problems.append(f"{shard['file']}: checksum differs from the manifest")
        if len(content) != shard["bytes"]:
            problems.append(f"{shard['file']}: {len(content)} bytes, manifest says {shard['bytes']}")
        rows = (
            pq.ParquetFile(out_dir / shard["file"]).metadata.num_rows
            if shard["file"].endswith(".parquet")
            else content.count(b"\n")
        )
        if rows != shard["rows"]:
            problems.append(f"{shard['file']}: {rows} rows, manifest says {shard['rows']}")
    return problems
