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
from cotfactory.storage.records import VerdictRecord, utc_now
from cotfactory.storage.store import Store, insert


@dataclass(frozen=True)
class ShardRef:
    """One shard of a run: its position among `shards` and its store."""

    run_id: str
    shards: int
    shard: int
    store: Path


@dataclass(frozen=True)
class Redecided:
    """A merged sample the run's store decides otherwise: its outcome there and the verdicts that changed."""

    sample_id: str
    accepted: bool
    reject_check: str | None
    reject_reason: str | None
    verdicts: list[VerdictRecord]


# `status RUN`: each shard's last Prefect state and counts (as of its merge, or of the coordinator's last look)
SHARDS_OF_RUN = (
    "SELECT shard, shards, state, prompts, prompts_sampled, samples, accepted, completion_tokens AS tokens, "
    "merged_at IS NOT NULL AS merged, flow_run_id FROM run_shards WHERE run_id = ? ORDER BY shards, shard"
)
MERGE_MEMORY_LIMIT = os.environ.get("COTFACTORY_MERGE_MEMORY", "256MB")

# Given the transaction and the ids of the newly merged accepted samples in the shard's order, what changes.
Rejudge = Callable[[duckdb.DuckDBPyConnection, Sequence[str]], list[Redecided]]


@dataclass(frozen=True)
class ShardCounts:
    """What a shard's store holds for its run."""

    prompts_sampled: int
    samples: int
    accepted: int
    completion_tokens: int


@dataclass(frozen=True)
class Merged:
    """The result of one merge call: `merged_now` is False when the shard had been merged before."""

    shard: ShardRef
    merged_now: bool
    new_samples: int = 0
    redecided: int = 0


def shard_counts(con: duckdb.DuckDBPyConnection, run_id: str, schema: str = "main") -> ShardCounts:
    """Prompts sampled, samples, accepted samples and completion tokens of `run_id` in the store `schema`."""
    ((prompts, tokens),) = con.execute(
        f"SELECT count(DISTINCT prompt_id), coalesce(sum(completion_tokens), 0) FROM {schema}.run_rounds "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall()
    ((samples, accepted),) = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE accepted) FROM {schema}.outcomes WHERE run_id = ?", [run_id]
    ).fetchall()
    return ShardCounts(int(prompts), int(samples), int(accepted), int(tokens))


def is_merged(con: duckdb.DuckDBPyConnection, shard: ShardRef) -> bool:
    rows = con.execute(
        "SELECT 1 FROM run_shards WHERE run_id = ? AND shards = ? AND shard = ? AND merged_at IS NOT NULL",
        [shard.run_id, shard.shards, shard.shard],
    ).fetchall()
    return bool(rows)


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


def _copy_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, bool]]:
    """The run's rows of the attached shard into the store, keys already present skipped; returns the new
    outcomes (sample id, accepted) in the order the shard judged them."""
    con.execute("INSERT INTO prompts BY NAME SELECT * FROM shard.prompts ON CONFLICT DO NOTHING")
    con.execute(
        "INSERT INTO completions BY NAME SELECT c.* FROM shard.completions c "
        "WHERE c.sample_id IN (SELECT sample_id FROM shard.outcomes WHERE run_id = ?) ON CONFLICT DO NOTHING",
        [run_id],
    )
    new = con.execute(
        "INSERT INTO outcomes BY NAME SELECT * FROM shard.outcomes WHERE run_id = ? "
        "ON CONFLICT DO NOTHING RETURNING sample_id, accepted, judged_at",
        [run_id],
    ).fetchall()
    new.sort(key=lambda row: (row[2], row[0]))
    con.register("_merged_ids", pa.table({"sample_id": [row[0] for row in new]}))
    try:
        con.execute(
            "INSERT INTO verdicts BY NAME SELECT v.* FROM shard.verdicts v JOIN _merged_ids m USING (sample_id) "
            "WHERE v.run_id = ? ON CONFLICT DO NOTHING",
            [run_id],
        )
    finally:
        con.unregister("_merged_ids")
    con.execute(
        "INSERT INTO run_rounds BY NAME SELECT * FROM shard.run_rounds WHERE run_id = ? ON CONFLICT DO NOTHING",
        [run_id],
    )
    # each shard counts its own requests to a fleet's servers: the run's counts are their sum
    con.execute(
        "INSERT INTO run_endpoints BY NAME SELECT * FROM shard.run_endpoints WHERE run_id = ? "
        "ON CONFLICT (run_id, endpoint) DO UPDATE SET requests = requests + excluded.requests, "
        "sequences = sequences + excluded.sequences, failures = failures + excluded.failures, "
        "set_aside = excluded.set_aside, last_error = coalesce(excluded.last_error, last_error), "
        "updated_at = excluded.updated_at",
        [run_id],
    )
    return [(str(sample_id), bool(accepted)) for sample_id, accepted, _ in new]


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


def record_shard(
    con: duckdb.DuckDBPyConnection,
    shard: ShardRef,
    *,
    state: str,
    prompts: int | None = None,
    flow_run_id: str | None = None,
    counts: ShardCounts | None = None,
    merged: bool = False,
) -> None:
    """Insert or update a shard's row of `run_shards`; unset fields keep their stored values."""
    now = utc_now()
    values = [shard.run_id, shard.shards, shard.shard, str(shard.store), flow_run_id, state, prompts or 0]
    counted = [None] * 4 if counts is None else [counts.prompts_sampled, counts.samples, counts.accepted,
                                                  counts.completion_tokens]  # fmt: skip
    con.execute(
        "INSERT INTO run_shards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, shards, shard) DO UPDATE SET store = excluded.store, state = excluded.state, "
        "flow_run_id = coalesce(excluded.flow_run_id, flow_run_id), "
        "prompts = CASE WHEN ? THEN excluded.prompts ELSE prompts END, "
        "prompts_sampled = coalesce(excluded.prompts_sampled, prompts_sampled), "
        "samples = coalesce(excluded.samples, samples), accepted = coalesce(excluded.accepted, accepted), "
        "completion_tokens = coalesce(excluded.completion_tokens, completion_tokens), "
        "merged_at = coalesce(merged_at, excluded.merged_at), updated_at = excluded.updated_at",
        [*values, *counted, now if merged else None, now, prompts is not None],
    )


def merge_shard(
    store: Store,
    shard: ShardRef,
    *,
    rejudge: Rejudge | None = None,
    before_commit: Callable[[], None] | None = None,
) -> Merged:
    """Merge one shard's store into `store` in one transaction, unless it has been merged already.
    `before_commit` runs inside the transaction after every row is written (a test stops the process there)."""
    with store.transaction() as con:
        # a shard's rows stream from the attached file; DuckDB spills what does not fit rather than growing
        limit_memory(con, MERGE_MEMORY_LIMIT)
        if is_merged(con, shard):
            return Merged(shard, merged_now=False)
        attach_read_only(con, shard.store)
        new = _copy_rows(con, shard.run_id)
        redecided = rejudge(con, [s for s, accepted in new if accepted]) if rejudge is not None else []
        _apply(con, shard.run_id, redecided)
        counts = shard_counts(con, shard.run_id, "shard")
        ((accepted,),) = con.execute(
            "SELECT count(*) FROM outcomes WHERE run_id = ? AND accepted AND sample_id IN "
            "(SELECT sample_id FROM shard.outcomes WHERE run_id = ?)",
            [shard.run_id, shard.run_id],
        ).fetchall()
        merged_counts = ShardCounts(counts.prompts_sampled, counts.samples, int(accepted), counts.completion_tokens)
        record_shard(con, shard, state="COMPLETED", counts=merged_counts, merged=True)
        if before_commit is not None:
            before_commit()
        con.execute("DETACH shard")  # inside the transaction: the attached file is released before the commit
    return Merged(shard, merged_now=True, new_samples=len(new), redecided=len(redecided))
