"""The store: transactional, idempotent writes that hold the database file only while they commit."""

import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from cotfactory.storage.connection import DEFAULT_LOCK_TIMEOUT_S, cap_memory, connect, room_for_batch
from cotfactory.storage.errors import StoreError
from cotfactory.storage.migrations import LATEST_VERSION, migrate
from cotfactory.storage.records import (
    JudgedSample,
    OutcomeRecord,
    PromptRecord,
    QuarantineRecord,
    Record,
    RoundRecord,
    RunRecord,
    RunStatus,
    SetMemberRecord,
    SetRecord,
    VerdictRecord,
    utc_now,
)
from cotfactory.storage.set_refs import check_set_name, latest_version


def records_to_arrow(records: Sequence[Record]) -> pa.Table:
    """Columns of `records` (all of one type) as an Arrow table, JSON columns serialized."""
    record_type = type(records[0])
    columns = {}
    for name in record_type.columns():
        values = [getattr(record, name) for record in records]
        if name in record_type.json_columns:
            values = [
                None if value is None else json.dumps(value, ensure_ascii=False, default=str) for value in values
            ]
        columns[name] = values
    return pa.table(columns)


def _insert(con: duckdb.DuckDBPyConnection, records: Sequence[Record], returning: str) -> list[tuple[Any, ...]]:
    target = type(records[0]).table  # a record class's own table name, never user text
    con.register("_incoming", records_to_arrow(records))
    # Not unregistered after an error: in the transaction the error aborted that raises too, hiding the error;
    # the connection and the view end with the transaction.
    rows = con.execute(
        f"INSERT INTO {target} BY NAME SELECT * FROM _incoming ON CONFLICT DO NOTHING {returning}"
    ).fetchall()
    con.unregister("_incoming")
    return rows


def insert(con: duckdb.DuckDBPyConnection, records: Sequence[Record]) -> int:
    """Insert rows, skipping those whose key is already stored; returns how many were new."""
    if not records:
        return 0
    ((inserted,),) = _insert(con, records, "")
    return int(inserted)


def insert_returning_keys(
    con: duckdb.DuckDBPyConnection, records: Sequence[Record], key: tuple[str, ...]
) -> set[tuple[Any, ...]]:
    """Insert rows as `insert` does; returns the keys of the rows that were new."""
    if not records:
        return set()
    return {tuple(row) for row in _insert(con, records, f"RETURNING {', '.join(key)}")}


R = TypeVar("R")


def _first_of_each(records: Iterable[R], key: Callable[[R], Hashable]) -> list[R]:
    seen: set[Hashable] = set()
    kept = []
    for record in records:
        if (k := key(record)) not in seen:
            seen.add(k)
            kept.append(record)
    return kept


def write_batch(
    con: duckdb.DuckDBPyConnection,
    samples: Sequence[JudgedSample],
    verdicts: Iterable[VerdictRecord] = (),
    rounds: Sequence[RoundRecord] = (),
) -> tuple[int, list[RoundRecord]]:
    """Samples with their verdicts (and the run progress they complete), idempotently, inside the transaction
    `con` the caller holds (a run's is memory-capped and leaves checkpoints to DuckDB): a completion is stored
    once, and each run's outcome of it once. Returns the number of new outcomes and the rounds as stored, their
    counts those of the new outcomes."""
    # Identical completions within one run share an outcome key: keep the first of each.
    outcomes = _first_of_each([s.outcome for s in samples], lambda o: (o.run_id, o.sample_id))
    completions = _first_of_each([s.completion for s in samples], lambda c: c.sample_id)
    room_for_batch(con, sum(len(c.completion) + len(c.reasoning or "") + len(c.answer or "") for c in completions))
    insert(con, completions)
    stored = insert_returning_keys(con, outcomes, ("run_id", "sample_id"))
    new = [o for o in outcomes if (o.run_id, o.sample_id) in stored]
    kept = {(o.run_id, o.sample_id) for o in new}
    insert(
        con,
        [
            v
            for v in _first_of_each(verdicts, lambda v: (v.run_id, v.sample_id, v.check_name))
            if (v.run_id, v.sample_id) in kept
        ],
    )
    counted = _counted(rounds, new)
    insert(con, counted)
    return len(new), counted


def _counted(rounds: Sequence[RoundRecord], new: Sequence[OutcomeRecord]) -> list[RoundRecord]:
    """The rounds' progress records with the samples and accepted counts of what was stored for each."""
    counts: dict[tuple[str, str, int], list[int]] = {}
    for sample in new:
        count = counts.setdefault((sample.run_id, sample.prompt_id, sample.round), [0, 0])
        count[0] += 1
        count[1] += sample.accepted
    counted = []
    for r in rounds:
        samples, accepted = counts.get((r.run_id, r.prompt_id, r.round), [0, 0])
        counted.append(r.model_copy(update={"samples": samples, "accepted": accepted}))
    return counted


class Store:
    """A cotfactory DuckDB file. Each write opens the file, commits one transaction and closes it again,
    so a reader in another process (`cotfactory sql`) gets in between writes."""

    def __init__(self, path: str | Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._migrated = False

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def transaction(
        self, *, checkpoint_on_close: bool = True, memory_capped: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on a connection that lives only as long as it; rolled back on any error. A
        `memory_capped` one (a run's batch writes and bookkeeping) runs under `BATCH_WRITE_MEMORY_LIMIT`, so that
        the checkpoints it triggers do not grow the process with the store; bulk work (imports, sets,
        migrations) needs more and is not capped."""
        if not self.path.parent.exists():
            raise StoreError(f"cannot create {self.path}: folder {self.path.parent} does not exist")
        con = connect(self.path, read_only=False, lock_timeout=self.lock_timeout)
        try:
            if not self._migrated:
                migrate(con, str(self.path))
                self._migrated = True
            if not checkpoint_on_close:
                # Batch writes leave the WAL to DuckDB's size-triggered checkpoint instead of rewriting the
                # table at every close; committed rows in the WAL survive a crash and are read by readers.
                con.execute("PRAGMA disable_checkpoint_on_shutdown")
            if memory_capped:  # after the migration, which may move a whole store's rows at once
                cap_memory(con)
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version."""
        with self.transaction():
            pass
        return LATEST_VERSION

    def add_prompts(self, prompts: Sequence[PromptRecord]) -> int:
        """Insert prompts; already stored ones are skipped. Returns how many were new."""
        with self.transaction() as con:
            return insert(con, prompts)

    def import_prompts(self, prompts: Sequence[PromptRecord], quarantined: Sequence[QuarantineRecord]) -> int:
        """Prompts and quarantined lines of one import, in one transaction. Returns how many prompts were new."""
        with self.transaction() as con:
            insert(con, quarantined)
            return insert(con, prompts)

    def start_run(self, run: RunRecord) -> None:
        """Record a run as it starts (a rerun with the same id keeps the first record)."""
        with self.transaction(memory_capped=True) as con:
            insert(con, [run])
            con.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", [run.run_id])

    def finish_run(self, run_id: str, status: RunStatus) -> None:
        """Mark a run finished with its final status."""
        with self.transaction(memory_capped=True) as con:
            con.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, utc_now(), run_id])

    def add_set(self, name: str, spec: dict, sample_ids: Sequence[str]) -> SetRecord:
        """Store a new version of set `name` with these members; versions count up from 1."""
        name = check_set_name(name)
        with self.transaction() as con:
            unique_ids = sorted(set(sample_ids))
            record = SetRecord(name=name, version=latest_version(con, name) + 1, spec=spec, row_count=len(unique_ids))
            insert(con, [record])
            members = [SetMemberRecord(name=name, version=record.version, sample_id=s) for s in unique_ids]
            insert(con, members)
        return record
