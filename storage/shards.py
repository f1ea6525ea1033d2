"""Shard writers of an export: JSONL lines appended to part-NNNNN.jsonl, or Arrow batches written as
part-NNNNN.parquet row groups, each file closed at the row or byte limit and checksummed as a whole."""

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

JSONL_SHARD = "part-{:05d}.jsonl"
PARQUET_SHARD = "part-{:05d}.parquet"


@dataclass(frozen=True)
class Shard:
    file: str
    rows: int
    bytes: int
    xxh3_64: str


class Lines:
    """A LargeStringArray of lines seen as one byte buffer plus the offset where each line starts."""

    def __init__(self, array: pa.Array) -> None:
        _, offsets, data = array.buffers()
        self.offsets = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
        self.data = memoryview(data)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def size(self, index: int) -> int:
        return int(self.offsets[index + 1] - self.offsets[index])

    def span(self, start: int, stop: int) -> memoryview:
        return self.data[self.offsets[start] : self.offsets[stop]]


class JsonlShardWriter:
    """Appends lines to part-NNNNN.jsonl files, starting a new one at the row or byte limit."""

    def __init__(self, out_dir: Path, shard_rows: int, shard_bytes: int) -> None:
        self.out_dir, self.shard_rows, self.shard_bytes = out_dir, shard_rows, shard_bytes
        self.shards: list[Shard] = []
        self._file: BinaryIO | None = None
        self._hasher = xxhash.xxh3_64()
        self._rows = self._bytes = 0

    def write(self, lines: Lines) -> None:
        sizes = np.diff(lines.offsets).tolist()
        start, pending_bytes = 0, 0
        for index, size in enumerate(sizes):
            rows = self._rows + index - start
            if rows and (rows >= self.shard_rows or self._bytes + pending_bytes + size > self.shard_bytes):
                self._append(lines, start, index, pending_bytes)
                self._close()
                start, pending_bytes = index, 0
            pending_bytes += size
        self._append(lines, start, len(sizes), pending_bytes)

    def _append(self, lines: Lines, start: int, stop: int, size: int) -> None:
        if stop <= start:
            return
        if self._file is None:
            self._file = open(self.out_dir / JSONL_SHARD.format(len(self.shards)), "wb")  # noqa: SIM115
        chunk = lines.span(start, stop)
        self._file.write(chunk)
        self._hasher.update(chunk)
        self._rows += stop - start
        self._bytes += size

    def _close(self) -> None:
        if self._file is None:
            return
        self._file.close()
        name = JSONL_SHARD.format(len(self.shards))
        self.shards.append(Shard(name, self._rows, self._bytes, self._hasher.hexdigest()))
        self._file, self._hasher, self._rows, self._bytes = None, xxhash.xxh3_64(), 0, 0

    def finish(self) -> list[Shard]:
        self._close()
        return self.shards


class ParquetShardWriter:
    """Writes Arrow tables as row groups of part-NNNNN.parquet files, starting a new file at the row limit or
    when the rows written (uncompressed Arrow bytes) pass the byte limit."""

    def __init__(self, out_dir: Path, shard_rows: int, shard_bytes: int) -> None:
        self.out_dir, self.shard_rows, self.shard_bytes = out_dir, shard_rows, shard_bytes
        self.shards: list[Shard] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows = self._bytes = 0

    def write(self, table: pa.Table) -> None:
        start = 0
        while start < table.num_rows:
            if self._writer is not None and (self._rows >= self.shard_rows or self._bytes >= self.shard_bytes):
                self._close()
            room = self.shard_rows - self._rows
            part = table.slice(start, room)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.out_dir / PARQUET_SHARD.format(len(self.shards)), part.schema)
            self._writer.write_table(part)
            self._rows += part.num_rows
            self._bytes += part.nbytes
            start += part.num_rows

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        path = self.out_dir / PARQUET_SHARD.format(len(self.shards))
        hasher = xxhash.xxh3_64()
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
        self.shards.append(Shard(path.name, self._rows, path.stat().st_size, hasher.hexdigest()))
        self._writer, self._rows, self._bytes = None, 0, 0

    def finish(self) -> list[Shard]:
        self._close()
        return self.shards
