"""Which shards of a run are still to sample, with their stores seeded for it.

The run's store is the one record of where the run stands, whoever sampled it: a one-process run of the same
config, shards of another count, or an earlier pass of these shards. So before shards are submitted, the stores
of shards that were recorded but never merged (of another shard count; or of any count, before a one-process run
goes on) are merged into it, and each shard's store is seeded with the run's progress on its prompts. A merged
shard whose prompts are not all finished (prompts added to the selection since, or a prompt whose accepted sample
the merge found a near duplicate of another shard's) is opened again, so a sharded run ends where a one-process
run of the same config ends.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.exceptions import ObjectNotFound

from cotfactory.flows.config import RunConfig
from cotfactory.flows.generate import start_run
from cotfactory.flows.run_state import (
    PromptProgress,
    import_prompt_files,
    is_finished,
    run_progress,
    select_prompts,
)
from cotfactory.flows.shards import merge_shards, reopen_shard, seed_shard, shard_ref, split
from cotfactory.storage import Store
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.shard_records import ShardRef, is_merged, record_shard

Live = Callable[[str | None], bool]


def _never_live(flow_run_id: str | None) -> bool:
    return False


def flow_run_live(client: Any, flow_run_id: str | None) -> bool:
    """Whether a shard's flow run recorded by an earlier call still runs, or will (scheduled, rescheduled after a
    crash), as the Prefect server `client` talks to knows it."""
    if flow_run_id is None:
        return False
    try:
        state = client.read_flow_run(UUID(flow_run_id)).state
    except ObjectNotFound:  # another Prefect server, or the run was deleted
        return False
    return state is not None and (not state.is_final() or state.is_crashed())


def merge_left_shards(config: RunConfig, *, keep: int | None = None, live: Live = _never_live) -> list[ShardRef]:
    """Merge the stores of this run's shards that were recorded and never merged, but those of `keep` shards (which
    the caller resumes itself); a shard whose flow run still runs (`live`) is refused by name, as merging it
    would let two processes sample its prompts. Returns the shards merged."""
    store = Store(config.db)
    run_id = config.run_id()
    with store.transaction(memory_capped=True) as con:
        rows = con.execute(
            "SELECT shards, shard, store, flow_run_id, state FROM run_shards WHERE run_id = ? AND merged_at IS NULL "
            "ORDER BY shards, shard",
            [run_id],
        ).fetchall()
    left = []
    for shards, shard, path, flow_run_id, state in rows:
        if shards == keep:
            continue
        if live(flow_run_id):
            raise CotfactoryError(
                f"shard {shard} of {shards} of run {run_id} is still running (flow run {flow_run_id}): wait for it, "
                f"or cancel it in Prefect, before running this config another way"
            )
        ref = ShardRef(run_id, int(shards), int(shard), Path(path))
        if ref.store.is_file():
            left.append(ref)
        elif state == "REOPENED":  # its old store was merged and removed, and no new one was seeded
            with store.transaction(memory_capped=True) as con:
                record_shard(con, ref, state="EMPTY", merged=True)
        else:  # a seeded store is gone: what it sampled would be sampled again
            raise CotfactoryError(
                f"the store of shard {shard} of {shards} of run {run_id} is missing ({path}): make the shard "
                "directory reachable again, or delete its row from run_shards to sample what it held again"
            )
    if left:
        merge_shards(config, left)
    return left


def prepare_shards(config: RunConfig, shards: int, *, live: Live = _never_live) -> tuple[str, list[ShardRef], int]:
    """Import and select the run's prompts in its store, record the run, merge what shards of another count left,
    and seed the store of every shard with work left (not merged, or merged with prompts not finished); returns
    the run id, those shards and the run's number of prompts."""
    store = Store(config.db)
    import_prompt_files(store, config.prompts)
    with store.transaction() as con:
        prompts = select_prompts(con, config.prompts)
    run_id = start_run(store, config)
    merge_left_shards(config, keep=shards, live=live)
    parts = split(prompts, shards)
    refs = [shard_ref(config, shard, shards) for shard in range(shards)]
    with store.transaction(memory_capped=True) as con:
        progress = run_progress(con, run_id)
        merged = {ref.shard for ref in refs if is_merged(con, ref)}
    pending = []
    for ref in refs:
        if ref.shard in merged:
            if all(is_finished(progress.get(p.prompt_id, PromptProgress()), config) for p in parts[ref.shard]):
                continue
            reopen_shard(store, ref)
        pending.append(ref)
    for ref in pending:
        seed_shard(config, ref, parts[ref.shard])
    with store.transaction(memory_capped=True) as con:
        for ref in pending:
            record_shard(con, ref, state="PENDING", prompts=len(parts[ref.shard]))
    return run_id, pending, len(prompts)
