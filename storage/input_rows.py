"""Reading JSONL, CSV and Parquet files row by row, reporting each malformed row as FILE:LINE.

polars and DuckDB raise on a truncated line or invalid UTF-8 without a line number (and DuckDB's
`ignore_errors` inserts rows of NULLs), so JSONL and CSV are validated line by line here.
"""

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq

from cotfactory.storage.errors import InputError

DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_REPORTED_LINES = 200


@dataclass(frozen=True, slots=True)
class InputRow:
    """One row of an input file: its fields, or the reason it could not be read, and its raw bytes."""

    file: str
    line: int  # 1-based line number (JSONL, CSV: the line the record starts on) or row number (Parquet)
    raw: bytes
    fields: dict[str, Any] | None = None
    error: str | None = None

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


def describe_bad_rows(rows: Sequence["InputRow"]) -> str:
    """FILE:LINE: problem, one line per bad row (the first MAX_REPORTED_LINES of them)."""
    lines = [f"{row.location}: {row.error}" for row in rows[:MAX_REPORTED_LINES]]
    if len(rows) > MAX_REPORTED_LINES:
        lines.append(f"... and {len(rows) - MAX_REPORTED_LINES:,} more bad rows")
    return "\n".join(lines)


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    if kind in (".jsonl", ".ndjson"):
        return "jsonl"
    if kind in (".csv", ".tsv"):
        return kind[1:]
    if kind in (".parquet", ".pq"):
        return "parquet"
    raise InputError(f"{path}: unknown file type {kind or '(none)'!r}; expected .jsonl, .csv, .tsv or .parquet")


def _decode_error(raw: bytes) -> str | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"invalid UTF-8 at byte {error.start + 1} of the line"
    return None


def _jsonl_rows(path: Path, max_line_bytes: int) -> Iterator[InputRow]:
    with _open_binary(path) as stream:
        for number, line in enumerate(stream, start=1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue  # blank lines carry no record (a trailing newline, a separator)
            row = InputRow(str(path), number, raw)
            if len(raw) > max_line_bytes:
                yield _failed(row, f"line is {len(raw):,} bytes, over the {max_line_bytes:,}-byte cap")
                continue
            if error := _decode_error(raw):
                yield _failed(row, error)
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as error:
                yield _failed(row, f"not valid JSON: {error.msg} (column {error.colno})")
                continue
            if not isinstance(value, dict):
                yield _failed(row, f"not a JSON object (got {type(value).__name__})")
                continue
            yield InputRow(row.file, row.line, raw, fields=value)


def _csv_rows(path: Path, max_line_bytes: int, delimiter: str) -> Iterator[InputRow]:
    with _open_binary(path) as stream:
        # surrogateescape keeps undecodable bytes so the row, not the whole file, is reported
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InputError(f"{path}:1: unreadable CSV header: {error}") from error
        start = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield InputRow(str(path), start, b"", error=f"malformed CSV: {error}")
                start = reader.line_num + 1
                continue
            raw = delimiter.join(values).encode("utf-8", errors="surrogateescape")
            row = InputRow(str(path), start, raw)
            start = reader.line_num + 1
            if not any(value.strip() for value in values):
                continue
            if len(raw) > max_line_bytes:
                yield _failed(row, f"row is {len(raw):,} bytes, over the {max_line_bytes:,}-byte cap")
            elif error := _decode_error(raw):
                yield _failed(row, error)
            elif len(values) != len(header):
                yield _failed(row, f"has {len(values)} fields, the header has {len(header)}")
            else:
                yield InputRow(row.file, row.line, raw, fields=dict(zip(header, values, strict=True)))


def _parquet_rows(path: Path) -> Iterator[InputRow]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path}: not a readable Parquet file: {error}") from error
    number = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        for fields in batch.to_pylist():
            number += 1
            raw = json.dumps(fields, ensure_ascii=False, default=str).encode("utf-8")
            yield InputRow(str(path), number, raw, fields=fields)


def _failed(row: InputRow, error: str) -> InputRow:
    return InputRow(row.file, row.line, row.raw, error=error)


def read_rows(path: str | Path, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[InputRow]:
    """Every record of a JSONL (optionally .gz), CSV/TSV or Parquet file, malformed ones carrying an error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = _format_of(path)
    if kind == "jsonl":
        return _jsonl_rows(path, max_line_bytes)
    if kind in ("csv", "tsv"):
        return _csv_rows(path, max_line_bytes, "," if kind == "csv" else "\t")
    return _parquet_rows(path)


T = TypeVar("T")


def parse_all_rows(
    paths: Sequence[str | Path],
    parse: Callable[[InputRow], T],
    *,
    what: str,
    errors: tuple[type[Exception], ...] = (ValueError,),
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> list[T]:
    """`parse` applied to every well-formed row of the files, in order; rows that cannot be read or parsed
    (`errors`) are collected and reported together as FILE:LINE in one InputError, and nothing is returned."""
    parsed: list[T] = []
    bad: list[InputRow] = []
    for path in paths:
        for row in read_rows(path, max_line_bytes=max_line_bytes):
            if row.fields is None:
                bad.append(row)
                continue
            try:
                parsed.append(parse(row))
            except errors as error:
                bad.append(_failed(row, str(error)))
    if bad:
        raise InputError(f"{len(bad):,} bad rows, {what}:\n{describe_bad_rows(bad)}")
    return parsed
