"""Merging a shard's store into its run's store, exactly once.

A shard of a run is a store of its own, written by one flow run. The merge attaches it read-only and copies the
run's rows with `INSERT ... ON CONFLICT DO NOTHING` on their content-addressed keys, in one transaction that also
records the shard as merged in `run_shards`: a crash mid-merge rolls the whole shard back, and a shard recorded as
merged is not read again, so merging once, twice or after a crash gives the same store. Samples the shard accepted
may be decided again against the run's store (`rejudge`: the steps that judge against the store, such as dedup
across shards) before the transaction commits.
"""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from cotfactory.storage.connection import limit_memory
from cotfactory.storage.errors import StoreError
from cotfactory.storage.migrations import LATEST_VERSION
from cotfactory.storage.records import VerdictRecord
from cotfactory.storage.run_lock import run_writer
from cotfactory.storage.shard_records import ShardCounts, ShardRef, is_merged, record_shard
from cotfactory.storage.store import Store, insert


@dataclass(frozen=True)
class Redecided:
    """A merged sample the run's store decides otherwise: its outcome there and the verdicts that changed."""

    sample_id: str
    accepted: bool
    reject_check: str | None
    reject_reason: str | None
    verdicts: list[VerdictRecord]


# DuckDB reads 2,048 rows at a time: the cap must hold that many of the longest traces, with their reasoning
# (R1's run to 130 KB: a 256MB cap could not even scan a shard of 50 KB traces).
MERGE_MEMORY_LIMIT = os.environ.get("COTFACTORY_MERGE_MEMORY", "1GB")

# Given the transaction and the ids of the newly merged accepted samples in the shard's order, what changes.
Rejudge = Callable[[duckdb.DuckDBPyConnection, Sequence[str]], list[Redecided]]


@dataclass(frozen=True)
class Merged:
    """The result of one merge call: `merged_now` is False when the shard had been merged before."""

    shard: ShardRef
    merged_now: bool
    new_samples: int = 0
    redecided: int = 0


def attach_read_only(con: duckdb.DuckDBPyConnection, path: Path, alias: str = "shard") -> None:
    """Attach a shard's store under `alias`, read-only; refuse a file of another schema version."""
    if not path.is_file():
        raise StoreError(f"shard store {path} does not exist")
    quoted = str(path).replace("'", "''")
    try:
        con.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
        ((version,),) = con.execute(f"SELECT coalesce(max(version), 0) FROM {alias}.schema_migrations").fetchall()
    except duckdb.Error as error:
        raise StoreError(f"cannot read shard store {path}: {error}") from None
    if version != LATEST_VERSION:
        raise StoreError(f"shard store {path} has schema version {version}, this cotfactory {LATEST_VERSION}")


def check_shard_store(con: duckdb.DuckDBPyConnection, shard: ShardRef, owner: Callable[[str], int]) -> None:
    """Refuse an attached shard store that is not this shard: one that names another run or shard, or (a store
    seeded before stores named themselves) holds prompts `owner` places in another shard."""
    named = con.execute("SELECT run_id, shards, shard FROM shard.run_shards").fetchall()
    if named:
        if (shard.run_id, shard.shards, shard.shard) not in {tuple(row) for row in named}:
            run_id, shards, index = named[0]
            raise StoreError(f"shard store {shard.store} is shard {index} of {shards} of run {run_id}, not shard "
                             f"{shard.shard} of {shard.shards} of run {shard.run_id}")  # fmt: skip
        return
    for (prompt_id,) in con.execute("SELECT DISTINCT prompt_id FROM shard.outcomes WHERE run_id = ?",
                                    [shard.run_id]).fetchall():  # fmt: skip
        if owner(prompt_id) != shard.shard:
            raise StoreError(f"shard store {shard.store} holds prompt {prompt_id} of shard {owner(prompt_id)} "
                             f"of {shard.shards}, not of shard {shard.shard}")  # fmt: skip


# Rows are copied with an anti-join on their keys, not `ON CONFLICT DO NOTHING`: DuckDB cannot spill a conflict
# check over long texts, and a shard of 40 KB traces ran out of its memory limit that way.
_NEW_COMPLETIONS = """
INSERT INTO completions BY NAME SELECT c.* FROM shard.completions c
WHERE c.sample_id IN (SELECT sample_id FROM shard.outcomes WHERE run_id = $run)
  AND NOT EXISTS (SELECT 1 FROM completions k WHERE k.sample_id = c.sample_id)
"""
_NEW_OUTCOMES = """
INSERT INTO outcomes BY NAME SELECT o.* FROM shard.outcomes o
WHERE o.run_id = $run AND NOT EXISTS (SELECT 1 FROM outcomes k WHERE k.run_id = o.run_id AND k.sample_id = o.sample_id)
RETURNING sample_id, accepted, judged_at
"""
_NEW_VERDICTS = """
INSERT INTO verdicts BY NAME SELECT v.* FROM shard.verdicts v JOIN _merged_ids m USING (sample_id)
WHERE v.run_id = $run AND NOT EXISTS (
    SELECT 1 FROM verdicts k WHERE k.run_id = v.run_id AND k.sample_id = v.sample_id AND k.check_name = v.check_name)
"""


def _copy_rows(
    con: duckdb.DuckDBPyConnection, run_id: str
) -> tuple[list[tuple[str, bool]], list[tuple[str, int | None]]]:
    """The run's rows of the attached shard into the store, keys already present skipped; returns the new
    outcomes (sample id, accepted) in the order the shard judged them, and the new rounds (prompt, tokens)."""
    con.execute(
        "INSERT INTO prompts BY NAME SELECT p.* FROM shard.prompts p "
        "WHERE NOT EXISTS (SELECT 1 FROM prompts k WHERE k.prompt_id = p.prompt_id)"
    )
    con.execute(_NEW_COMPLETIONS, {"run": run_id})
    new = con.execute(_NEW_OUTCOMES, {"run": run_id}).fetchall()
    new.sort(key=lambda row: (row[2], row[0]))
    con.register("_merged_ids", pa.table({"sample_id": [row[0] for row in new]}))
    try:
        con.execute(_NEW_VERDICTS, {"run": run_id})
    finally:
        con.unregister("_merged_ids")
    rounds = con.execute(
        "INSERT INTO run_rounds BY NAME SELECT * FROM shard.run_rounds WHERE run_id = ? ON CONFLICT DO NOTHING "
        "RETURNING prompt_id, completion_tokens",
        [run_id],
    ).fetchall()
    # each shard counts its own requests to a fleet's servers: the run's counts are their sum
    con.execute(
        "INSERT INTO run_endpoints BY NAME SELECT * FROM shard.run_endpoints WHERE run_id = ? "
        "ON CONFLICT (run_id, endpoint) DO UPDATE SET requests = requests + excluded.requests, "
        "sequences = sequences + excluded.sequences, failures = failures + excluded.failures, "
        "set_aside = excluded.set_aside, last_error = coalesce(excluded.last_error, last_error), "
        "updated_at = excluded.updated_at",
        [run_id],
    )
    return [(str(sample_id), bool(accepted)) for sample_id, accepted, _ in new], rounds


def _apply(con: duckdb.DuckDBPyConnection, run_id: str, redecided: Sequence[Redecided]) -> None:
    """The run store's decisions over the shard's: outcome columns, changed verdicts, the rounds' accepted."""
    for change in redecided:
        con.execute(
            "UPDATE outcomes SET accepted = ?, reject_check = ?, reject_reason = ? WHERE run_id = ? AND sample_id = ?",
            [change.accepted, change.reject_check, change.reject_reason, run_id, change.sample_id],
        )
        for verdict in change.verdicts:
            con.execute(
                "DELETE FROM verdicts WHERE run_id = ? AND sample_id = ? AND check_name = ?",
                [run_id, verdict.sample_id, verdict.check_name],
            )
        insert(con, change.verdicts)
    if redecided:
        con.register("_redecided", pa.table({"sample_id": [c.sample_id for c in redecided]}))
        try:
            con.execute(
                "UPDATE run_rounds r SET accepted = (SELECT count(*) FROM outcomes o WHERE o.run_id = r.run_id "
                "AND o.prompt_id = r.prompt_id AND o.round = r.round AND o.accepted) "
                "WHERE r.run_id = ? AND (r.prompt_id, r.round) IN (SELECT o.prompt_id, o.round FROM outcomes o "
                "JOIN _redecided d USING (sample_id) WHERE o.run_id = ?)",
                [run_id, run_id],
            )
        finally:
            con.unregister("_redecided")


def merge_shard(
    store: Store,
    shard: ShardRef,
    *,
    owner: Callable[[str], int] | None = None,
    rejudge: Rejudge | None = None,
    before_commit: Callable[[], None] | None = None,
) -> Merged:
    """Merge one shard's store into `store` in one transaction, unless it has been merged already. `owner` gives
    a prompt's shard (to refuse another shard's store); `before_commit` runs inside the transaction after every
    row is written (a test stops the process there). A store that cannot be merged raises StoreError naming it,
    and leaves nothing of it in `store`."""
    try:
        # a process still writing the shard (a flow run started twice) is waited for: what it stores is merged too
        with run_writer(shard.store, shard.run_id), store.transaction() as con:
            # a shard's rows stream from the attached file; DuckDB spills what does not fit rather than growing
            limit_memory(con, MERGE_MEMORY_LIMIT)
            if is_merged(con, shard):
                return Merged(shard, merged_now=False)
            attach_read_only(con, shard.store)
            check_shard_store(con, shard, owner or (lambda prompt_id: shard.shard))
            new, rounds = _copy_rows(con, shard.run_id)
            redecided = rejudge(con, [s for s, accepted in new if accepted]) if rejudge is not None else []
            _apply(con, shard.run_id, redecided)
            # what this shard's store added to the run (a store seeded with the run's rows holds those too)
            rejected = {change.sample_id for change in redecided}
            merged_counts = ShardCounts(
                prompts_sampled=len({prompt_id for prompt_id, _ in rounds}),
                samples=len(new),
                accepted=sum(accepted and sample_id not in rejected for sample_id, accepted in new),
                completion_tokens=sum(tokens or 0 for _, tokens in rounds),
            )
            record_shard(con, shard, state="MERGED", counts=merged_counts, merged=True)
            if before_commit is not None:
                before_commit()
            con.execute("DETACH shard")  # inside the transaction: the attached file is released before the commit
    except duckdb.OutOfMemoryException as error:
        raise StoreError(
            f"cannot merge shard store {shard.store} within COTFACTORY_MERGE_MEMORY={MERGE_MEMORY_LIMIT}: raise it to "
            f"about 5 x 2048 x the longest trace ({error})"
        ) from None
    except duckdb.Error as error:
        raise StoreError(f"cannot merge shard store {shard.store}: {error}") from None
    return Merged(shard, merged_now=True, new_samples=len(new), redecided=len(redecided))
