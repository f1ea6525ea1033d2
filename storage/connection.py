"""Opening the database file: DuckDB lets one process hold it, so every opener retries briefly on the lock."""

import os
import random
import re
import time
from pathlib import Path

import duckdb

from cotfactory.storage.errors import StoreBusy, StoreError

DEFAULT_LOCK_TIMEOUT_S = float(os.environ.get("COTFACTORY_LOCK_TIMEOUT", "60"))

# Long strings (reasoning traces) make DuckDB's dict_fsst analysis the slowest part of a checkpoint: 3-4x
# slower writes of 8 KB traces here, for little gain over the other string compressions.
_WRITER_SETTINGS = ("SET disabled_compression_methods = 'dict_fsst'",)

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.*?)(?: \(PID (\d+)\))")


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return "Could not set lock" in str(error) or "Conflicting lock" in str(error)


def _holder(error: duckdb.Error) -> str:
    match = _LOCK_HOLDER.search(str(error))
    return f"{match.group(1)} (PID {match.group(2)})" if match else "another process"


def connect(
    path: str | Path, *, read_only: bool, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S
) -> duckdb.DuckDBPyConnection:
    """Open `path`, retrying with jittered backoff while another process holds it, up to `lock_timeout` seconds."""
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"no store at {path}: import prompts first (cotfactory import-prompts --db {path} FILE)")
    deadline = time.monotonic() + lock_timeout
    delay = 0.005
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if not _is_lock_conflict(error):
                raise StoreError(f"cannot open {path}: {error}") from error
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"{path} is held by {_holder(error)} for more than {lock_timeout:.0f}s; "
                    "retry later or raise COTFACTORY_LOCK_TIMEOUT"
                ) from error
            # Backoff, not synchronization: the holder releases the file after each commit.
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.1)
            continue
        # No progress bar: DuckDB draws it on stdout, into the output of `cotfactory sql` and friends.
        con.execute("SET enable_progress_bar = false")
        if not read_only:
            for setting in _WRITER_SETTINGS:
                con.execute(setting)
        return con


# Whole-store jobs (export, curate) sort and stream every sample: bound DuckDB's memory so large stores spill
# to its temporary folder instead of growing the process (DuckDB's own default is 80% of the machine's RAM).
STREAMING_MEMORY_LIMIT = os.environ.get("COTFACTORY_STREAMING_MEMORY", "1GB")


# The cap of memory-capped transactions (a run's batch writes and bookkeeping): the checkpoints they trigger
# otherwise keep what they read (row groups, index nodes) up to DuckDB's default of 80% of RAM, so a run's
# memory grew with its store. 64MB kept batch writes into a 600k-sample store (6M verdict keys) as fast as
# unlimited. Not for bulk inserts: one transaction of 2M new keys does not fit in it.
BATCH_WRITE_MEMORY_LIMIT = os.environ.get("COTFACTORY_WRITER_MEMORY", "64MB")
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def limit_memory(con: duckdb.DuckDBPyConnection, limit: str = STREAMING_MEMORY_LIMIT) -> None:
    """Cap DuckDB's memory on this connection for a job that reads the whole store."""
    con.execute("SET memory_limit = ?", [limit])


def _bytes(size: str) -> int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", size.lower())
    if found is None or found.group(2) not in _UNITS:
        raise StoreError(f"COTFACTORY_WRITER_MEMORY={size!r} is not a size such as 64MB")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def cap_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Hold the connection of a memory-capped transaction to `BATCH_WRITE_MEMORY_LIMIT` (plus its batch's room)."""
    cap = _bytes(BATCH_WRITE_MEMORY_LIMIT)
    con.execute("SET memory_limit = ?", [f"{cap}B"])
    con.execute("SET VARIABLE cotfactory_memory_cap = ?", [cap])


def room_for_batch(con: duckdb.DuckDBPyConnection, text_chars: int) -> None:
    """Raise a memory-capped connection's limit by room for a batch of `text_chars` characters: the cap bounds
    what checkpoints keep as the store grows, and a batch larger than it (1,000 traces of 8 KB) would otherwise
    fail its write. Connections without a cap are left alone."""
    ((cap,),) = con.execute("SELECT getvariable('cotfactory_memory_cap')").fetchall()
    if cap is not None:  # 4 bytes a character: UTF-8 at its widest, and DuckDB's copy beside Arrow's
        con.execute("SET memory_limit = ?", [f"{int(cap) + 4 * text_chars}B"])
