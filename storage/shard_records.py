"""A run's record of its shards: which shard of which run a store is, each shard's row of `run_shards` (its last
state, counts and merge), and what a shard's store holds for its run."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from cotfactory.storage.records import utc_now


@dataclass(frozen=True)
class ShardRef:
    """One shard of a run: its position among `shards` and its store."""

    run_id: str
    shards: int
    shard: int
    store: Path


# `status RUN`: each shard's last Prefect state and counts (as of its merge, or of the coordinator's last look)
SHARDS_OF_RUN = (
    "SELECT shard, shards, state, prompts, prompts_sampled, samples, accepted, completion_tokens AS tokens, "
    "merged_at IS NOT NULL AS merged, flow_run_id FROM run_shards WHERE run_id = ? ORDER BY shards, shard"
)


@dataclass(frozen=True)
class ShardCounts:
    """What a shard's store holds for its run."""

    prompts_sampled: int
    samples: int
    accepted: int
    completion_tokens: int


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


def mark_shard_store(con: duckdb.DuckDBPyConnection, shard: ShardRef) -> None:
    """Write into a shard's own store which shard of which run it is (its `run_shards` row), once."""
    record_shard(con, shard, state="SEEDED")
