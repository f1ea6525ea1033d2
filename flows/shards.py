"""A run split into shards: which shard a prompt belongs to, each shard's own store, the shard flow a work pool
runs, and the merge of finished shards into the run's store.

A prompt's shard is a stable hash of its id modulo the shard count, so the same prompt lands in the same shard
whatever ran before. The coordinator seeds each shard's store with its prompts and the benchmarks the run
decontaminates against; the shard flow (parameters: the config's JSON table, the shard and the count) samples,
checks and stores them there with the run's chain, and a retry of it resumes from that store.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext

from cotfactory.flows.config import PromptSelection, RunConfig
from cotfactory.flows.generate import as_config, sample_check_store
from cotfactory.flows.run_parts import open_chain, replays
from cotfactory.flows.run_state import select_prompts
from cotfactory.flows.shard_judge import store_steps_rejudge
from cotfactory.storage import PromptRecord, Store
from cotfactory.storage.ids import xxh3_id
from cotfactory.storage.run_lock import run_writer
from cotfactory.storage.shard_merge import Merged, attach_read_only, merge_shard
from cotfactory.storage.shard_records import ShardRef, mark_shard_store
from cotfactory.storage.shard_seed import seed_progress
from cotfactory.storage.store import insert

SHARD_FLOW = "cotfactory-shard"
# Runs of one shard's flow run, counted by Prefect over its retries and its reschedules after crashes.
MAX_ATTEMPTS = 5


def shard_of(prompt_id: str, shards: int) -> int:
    """The shard of a prompt among `shards`: a hash of its id alone, so it never depends on other prompts."""
    return int(xxh3_id("shard", prompt_id), 16) % shards


def shard_dir(config: RunConfig) -> Path:
    """Where the run's shard stores live: `[cluster] shard_dir`, or `DB.shards` beside the store."""
    return config.cluster.shard_dir or config.db.with_name(config.db.name + ".shards")


def shard_ref(config: RunConfig, shard: int, shards: int) -> ShardRef:
    """Shard `shard` of `shards` of this config's run, with the path of its store."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not one of {shards}")
    run_id = config.run_id()
    path = shard_dir(config) / run_id / f"shard-{shard:04d}-of-{shards:04d}.duckdb"
    return ShardRef(run_id, shards, shard, path)


def split(prompts: list[PromptRecord], shards: int) -> list[list[PromptRecord]]:
    """The run's prompts by shard, each in the run's order."""
    parts: list[list[PromptRecord]] = [[] for _ in range(shards)]
    for prompt in prompts:
        parts[shard_of(prompt.prompt_id, shards)].append(prompt)
    return parts


def seed_shard(config: RunConfig, ref: ShardRef, prompts: list[PromptRecord]) -> None:
    """Write into a shard's store which shard it is, its prompts, what the run's store already holds for them
    (so the shard resumes from the run's progress), and the benchmarks the run decontaminates against; seeding
    again adds nothing."""
    ref.store.parent.mkdir(parents=True, exist_ok=True)
    with run_writer(ref.store, ref.run_id), Store(ref.store).transaction() as con:
        insert(con, prompts)
        mark_shard_store(con, ref)
        attach_read_only(con, config.db, "run")
        seed_progress(con, ref.run_id, [prompt.prompt_id for prompt in prompts])
        if config.decontam:
            names = list(config.decontam)
            con.execute(
                "INSERT INTO benchmarks BY NAME SELECT * FROM run.benchmarks WHERE list_contains(?, name) "
                "ON CONFLICT DO NOTHING",
                [names],
            )
            con.execute(
                "INSERT INTO benchmark_ngrams BY NAME SELECT * FROM run.benchmark_ngrams "
                "WHERE list_contains(?, benchmark) ON CONFLICT DO NOTHING",
                [names],
            )
        con.execute("DETACH run")


def reopen_shard(store: Store, ref: ShardRef) -> None:
    """A merged shard with work left (prompts added to the selection, or a prompt that lost its accepted sample at
    the merge): its merge record is cleared and its old store removed (everything in it is in the run's store,
    and a fresh store counts its fleet requests from zero), so it is seeded and sampled again."""
    with run_writer(ref.store, ref.run_id):  # a process still writing it (started twice) is waited for
        for path in (ref.store, ref.store.with_name(ref.store.name + ".wal")):  # first: a crash leaves it merged
            path.unlink(missing_ok=True)
    with store.transaction(memory_capped=True) as con:
        con.execute(
            "UPDATE run_shards SET merged_at = NULL, state = 'REOPENED' WHERE run_id = ? AND shards = ? AND shard = ?",
            [ref.run_id, ref.shards, ref.shard],
        )


def fleet_share(urls: list[str], shard: int, shards: int) -> list[str]:
    """Shard `shard`'s endpoints of a fleet: endpoint j goes to shard j mod `shards`, so each endpoint serves one
    shard; with fewer endpoints than shards, every shard uses them all."""
    if len(urls) < shards:
        return list(urls)
    return [url for index, url in enumerate(urls) if index % shards == shard]


def shard_config(config: RunConfig, ref: ShardRef) -> RunConfig:
    """The run's config writing into the shard's store, sending to its share of a fleet (neither the store nor
    the endpoints are part of the run id)."""
    update: dict[str, Any] = {"db": ref.store}
    sampler = config.sampler
    urls = sampler.fleet()
    if urls and ref.shards > 1:
        share = fleet_share(urls, ref.shard, ref.shards)
        if len(share) == len(urls):
            _logger().info("shard %d of %d: %d endpoints for %d shards, so every shard sends to all of them",
                           ref.shard, ref.shards, len(share), ref.shards)  # fmt: skip
        else:
            _logger().info("shard %d of %d: endpoints %s", ref.shard, ref.shards, ", ".join(share))
        update["sampler"] = sampler.with_fleet(share)
    return config.model_copy(update=update)


def _logger() -> Any:
    """The flow run's logger (seen in Prefect's UI) inside one, else this module's."""
    return get_run_logger() if FlowRunContext.get() is not None else logging.getLogger(__name__)


@dataclass
class ShardResult:
    """What a shard flow run reports: its status and its store's counts for the run."""

    shard: int
    status: str
    samples: int
    accepted: int


def sample_shard(config: RunConfig, shard: int, shards: int) -> ShardResult:
    """Sample, check and store one shard's prompts in its own store, continuing from what it holds."""
    ref = shard_ref(config, shard, shards)
    if not ref.store.is_file():
        raise FileNotFoundError(f"shard store {ref.store} does not exist: the coordinator seeds it")
    local = shard_config(config, ref)
    with Store(ref.store).transaction(memory_capped=True) as con:
        prompts = [p for p in select_prompts(con, PromptSelection()) if shard_of(p.prompt_id, shards) == shard]
    # a task inside the shard's flow run (seen in Prefect's UI); called directly by a process without one
    sampling = sample_check_store if FlowRunContext.get() is not None else sample_check_store.fn
    status, progress = sampling(local, prompts)
    return ShardResult(shard, status, progress.samples, progress.accepted)


# The result is persisted so that Prefect refuses to move a completed shard back to a scheduled state: a late
# or repeated crash automation cannot start a shard again once it has been merged.
@flow(name=SHARD_FLOW, retries=2, retry_delay_seconds=2, persist_result=True)
def shard_run(config: dict[str, Any], shard: int, shards: int) -> dict[str, Any]:
    """One shard of a run, as a work pool's worker starts it: JSON parameters only. Prefect's retries rerun it
    after a failure, and the rerun resumes from the shard's store."""
    from prefect.runtime import flow_run
    from prefect.states import Failed

    if flow_run.run_count > MAX_ATTEMPTS:  # a shard that keeps dying: failed for good, not rescheduled again
        return Failed(message=f"shard {shard} of {shards} ran {MAX_ATTEMPTS} times without completing")  # type: ignore[return-value]
    result = sample_shard(as_config(config), shard, shards)
    if result.status != "completed":
        raise RuntimeError(f"shard {shard} of {shards} ended {result.status}")
    return {"shard": result.shard, "samples": result.samples, "accepted": result.accepted}


@contextmanager
def shard_merger(config: RunConfig) -> Iterator[Callable[..., Merged]]:
    """Merges shards of this config's run into its store, each once, in its own transaction; the chain's steps
    that judge against the store (dedup) decide each shard's accepted samples again against what is merged so
    far. The chain is built once for all the shards merged."""
    store = Store(config.db)
    with store.transaction() as con:
        chain = open_chain(config, con, workers=1)
    with chain:
        rejudge = store_steps_rejudge(chain, config.run_id(), rejudging=replays(config))

        def merge(ref: ShardRef, **options: Any) -> Merged:
            owner = partial(shard_of, shards=ref.shards)
            return merge_shard(store, ref, owner=owner, rejudge=rejudge, **options)

        yield merge


def merge_shards(config: RunConfig, refs: list[ShardRef], **options: Any) -> list[Merged]:
    """Merge these shards into the run's store, in this order (see `shard_merger`)."""
    with shard_merger(config) as merge:
        return [merge(ref, **options) for ref in refs]
