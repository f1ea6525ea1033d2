"""The coordinator of a sharded run: it seeds the shard stores, submits one flow run of the shard flow per shard
to a Prefect work pool through a deployment, waits for them, and merges each finished shard once.

Prefect runs, retries and reports the shards; the coordinator keeps no queue of its own. A shard that ends
failed for good, or whose store cannot be merged, leaves the others merged and the run `failed`, naming it; the
same command run again submits only the shards with work left (flows/shard_plan.py), each resuming from its
store.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from uuid import UUID

from cotfactory.flows.config import RunConfig
from cotfactory.flows.continuous import RunProgress
from cotfactory.flows.report import report_artifact
from cotfactory.flows.run_state import run_totals
from cotfactory.flows.shard_deployment import apply_crash_rerun, apply_deployment, apply_zombie_detection
from cotfactory.flows.shard_plan import flow_run_live, prepare_shards
from cotfactory.flows.shard_progress import ShardedProgress
from cotfactory.flows.shards import SHARD_FLOW, shard_merger
from cotfactory.storage import Store
from cotfactory.storage.errors import CotfactoryError, StoreError
from cotfactory.storage.shard_records import ShardRef, record_shard

# A crashed shard that Prefect has not rescheduled within this time is failed for good (no automations service).
# The clock starts at `Crashed`, whoever set it (the shard's worker, or the zombie automation once heartbeats stop).
# Generous: a busy server's automations were seen to take over 2 minutes to reschedule a shard.
CRASH_GRACE_S = 300.0
POLL_S = 2.0


@dataclass
class ShardedRun:
    """How a sharded run ended: its status, the shards merged by this call, those that failed and why."""

    run_id: str
    status: str
    merged: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    samples: int = 0
    accepted: int = 0
    report: Path | None = None
    report_error: str | None = None


def submit(config: RunConfig, deployment_id: UUID, pending: list[ShardRef]) -> dict[int, UUID]:
    """One flow run per shard, scheduled on the pool, its parameters JSON alone; a shard whose flow run from an
    earlier call still runs is followed, not submitted again (two writers would sample it twice)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    table = config.as_json()
    with Store(config.db).transaction(memory_capped=True) as con:
        recorded = dict(
            con.execute(
                "SELECT shard, flow_run_id FROM run_shards WHERE run_id = ? AND shards = ?",
                [config.run_id(), config.cluster.shards],
            ).fetchall()
        )
    flow_runs = {}
    with get_client(sync_client=True) as client:
        for ref in pending:
            if flow_run_live(client, recorded.get(ref.shard)):
                flow_runs[ref.shard] = UUID(recorded[ref.shard])
                continue
            flow_run = run_deployment(
                deployment_id,
                parameters={"config": table, "shard": ref.shard, "shards": ref.shards},
                flow_run_name=f"{ref.run_id}-shard-{ref.shard}-of-{ref.shards}",
                timeout=0,
            )
            flow_runs[ref.shard] = flow_run.id
    return flow_runs


def wait_and_merge(
    config: RunConfig,
    pending: list[ShardRef],
    flow_runs: dict[int, UUID],
    *,
    poll_s: float = POLL_S,
    on_state: Callable[[ShardRef, str], None] | None = None,
    progress: ShardedProgress | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
) -> ShardedRun:
    """Follow the shards' flow runs until each ends; merge each completed shard as soon as it completes."""
    from prefect.client.orchestration import get_client

    store = Store(config.db)
    result = ShardedRun(config.run_id(), "running")
    waiting = {ref.shard: ref for ref in pending}
    seen: dict[int, str] = {}
    crashed_at: dict[int, float] = {}
    with get_client(sync_client=True) as client, shard_merger(config) as merge:
        while waiting:
            for shard, ref in list(waiting.items()):
                state = client.read_flow_run(flow_runs[shard]).state
                name = state.name if state is not None else "PENDING"
                if seen.get(shard) != name:  # Prefect's state, as `status` shows it
                    seen[shard] = name
                    with store.transaction(memory_capped=True) as con:
                        record_shard(con, ref, state=name, flow_run_id=str(flow_runs[shard]))
                    if on_state is not None:
                        on_state(ref, name)
                if state is not None and state.is_crashed():  # Prefect reschedules it (`apply_crash_rerun`)
                    since = crashed_at.setdefault(shard, time.monotonic())
                    if time.monotonic() - since < CRASH_GRACE_S:
                        continue
                else:
                    crashed_at.pop(shard, None)
                if state is None or not state.is_final():
                    continue
                del waiting[shard]
                if state.is_completed():
                    try:
                        merge(ref)
                    except StoreError as error:  # the others are still merged; the run fails naming this one
                        result.failed[shard] = f"not merged: {error}"
                        seen[shard] = "MERGE_FAILED"
                        with store.transaction(memory_capped=True) as con:
                            record_shard(con, ref, state="MERGE_FAILED")
                        if progress is not None:
                            progress.merged(shard)  # no more looks at its store: its state stays as recorded
                        continue
                    result.merged.append(shard)
                    if progress is not None:
                        progress.merged(shard)
                else:
                    result.failed[shard] = f"{name}: {state.message or 'no message'}"
            if progress is not None:
                run_progress = progress.update()
                _record_counts(store, progress, seen)
                if on_progress is not None:
                    on_progress(run_progress)
            if waiting:
                time.sleep(poll_s)  # polling Prefect's API, as run_deployment itself does
    return result


def _record_counts(store: Store, progress: ShardedProgress, states: dict[int, str]) -> None:
    """The live counts of the shards not merged, into `run_shards` when they changed (`status` shows them)."""
    changed = progress.changed()
    if changed:
        with store.transaction(memory_capped=True) as con:
            for shard, counts in changed.items():
                ref = progress.refs[shard]
                record_shard(con, ref, state=states.get(shard, "PENDING"), counts=counts)


def run_sharded(
    config: RunConfig,
    *,
    poll_s: float = POLL_S,
    on_state: Callable[[ShardRef, str], None] | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
) -> ShardedRun:
    """The whole sharded run: `[cluster] shards` flow runs on `[cluster] work_pool`, merged into `config.db`. A
    pass submits every shard with work left; when a merge leaves a merged shard's prompt short (its accepted sample
    nearly duplicated another shard's) and it has rounds left, another pass samples it, as one process would."""
    from prefect.client.orchestration import get_client

    if config.cluster.work_pool is None:
        raise ValueError("a sharded run needs a work pool ([cluster] work_pool or --work-pool)")
    shards = config.cluster.shards
    result = ShardedRun(config.run_id(), "running")
    with get_client(sync_client=True) as client:
        live = partial(flow_run_live, client)
        for _ in range(config.max_rounds + 1):  # each pass samples at least one more round of a short prompt
            _, pending, prompts = prepare_shards(config, shards, live=live)
            if not pending:
                break
            deployment_id = apply_deployment(config.cluster.work_pool, config.cluster.heartbeat_s)
            apply_crash_rerun(deployment_id)
            apply_zombie_detection(deployment_id, config.cluster.zombie_after_s)
            progress = ShardedProgress(config, pending, prompts)  # before the shards sample: their seeds apart
            flow_runs = submit(config, deployment_id, pending)
            passed = wait_and_merge(config, pending, flow_runs, poll_s=poll_s, on_state=on_state,
                                    progress=progress, on_progress=on_progress)  # fmt: skip
            result.merged += passed.merged
            result.failed |= passed.failed
            if passed.failed:
                break
    result.status = "failed" if result.failed else "completed"
    store = Store(config.db)
    store.finish_run(result.run_id, result.status)  # type: ignore[arg-type]
    with store.transaction(memory_capped=True) as con:
        result.samples, result.accepted = run_totals(con, result.run_id)
    try:  # the run is stored; a report that cannot be written is said, not raised
        result.report = report_artifact(config.db, result.run_id)
    except (OSError, CotfactoryError) as error:
        result.report_error = str(error)
    return result


__all__ = ["SHARD_FLOW", "ShardedRun", "prepare_shards", "run_sharded"]
