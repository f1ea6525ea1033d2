"""The generate flow: R1's rejection-sampling stage. Every prompt still short of its target is sampled, each
sample is checked and stored with its verdicts, and a prompt still short after a round is sampled again at
once, until each has its target or its rounds are used up. Sampling never waits for checking or storing, nor
for other prompts (`continuous`).
"""

import logging
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.runtime import flow_run

from cotfactory.filters.chain import Chain
from cotfactory.filters.runner import domains_of
from cotfactory.flows.config import RunConfig, load_config
from cotfactory.flows.continuous import ProgressCallback, RunProgress, Tracker, sample_continuously
from cotfactory.flows.report import report_artifact
from cotfactory.flows.run_artifacts import outcome_artifacts
from cotfactory.flows.run_control import ProgressLog, current
from cotfactory.flows.run_parts import open_chain, open_sampler, replays, stream_watch
from cotfactory.flows.run_state import (
    FunnelRow,
    import_prompt_files,
    run_funnel,
    run_progress,
    run_totals,
    select_prompts,
)
from cotfactory.flows.target_met import TargetWatch
from cotfactory.storage import PromptRecord, RunRecord, Store
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.run_cost import RunCost, run_cost
from cotfactory.storage.run_lock import WaitStopped, run_writer

__all__ = ["ProgressCallback", "RunProgress", "RunSummary", "generate"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did, returned by the flow; the funnel and the cost are read from the store after the run."""

    run_id: str
    status: str
    progress: RunProgress
    funnel: list[FunnelRow]
    cost: RunCost

    @property
    def samples(self) -> int:
        """Every sample the store holds for the run."""
        return sum(row.samples for row in self.funnel)

    @property
    def accepted(self) -> int:
        return sum(row.samples for row in self.funnel if row.reason == "accepted")


def start_run(store: Store, config: RunConfig) -> str:
    """Record the run (or find it again on a rerun) with every setting it was started with; its id."""
    run_id = config.run_id()
    sampling = config.sampling.model_dump(mode="json") | {
        "samples_per_round": config.samples_per_round,
        "target_accepted": config.target_accepted,
        "max_rounds": config.max_rounds,
    }
    store.start_run(
        RunRecord(
            run_id=run_id,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
            model=config.model,
            sampler=config.sampler.model_dump(mode="json"),
            sampling=sampling,
            checks=config.checks,
            config=config.as_json(),
        )
    )
    return run_id


def as_config(config: RunConfig | dict[str, Any] | str) -> RunConfig:
    """The flow's parameter as a validated config: a config, its JSON table (what a deployment passes), or the
    path of a TOML file."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, str):
        return load_config(Path(config))
    return RunConfig.model_validate(config)


@task(name="import-prompts", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def import_and_select(config: RunConfig) -> list[PromptRecord]:
    """Import the config's prompt files (a re-import adds nothing) and select the run's prompts."""
    store = Store(config.db)
    new_prompts = import_prompt_files(store, config.prompts)
    with store.transaction() as con:
        prompts = select_prompts(con, config.prompts)
    get_run_logger().info("%d prompts selected (%d newly imported) from %s", len(prompts), new_prompts, store)
    return prompts


@task(name="merge-left-shards", retries=1, cache_policy=NO_CACHE)
def merge_left_shards(config: RunConfig) -> int:
    """Before one process goes on with a run that was sharded, what its shards stored and never merged is merged,
    so that nothing they sampled is sampled again; returns how many shard stores were merged."""
    with Store(config.db).transaction(memory_capped=True) as con:
        ((left,),) = con.execute(
            "SELECT count(*) FROM run_shards WHERE run_id = ? AND merged_at IS NULL", [config.run_id()]
        ).fetchall()
    if not left:
        return 0
    from prefect.client.orchestration import get_client

    from cotfactory.flows.shard_plan import flow_run_live  # the shard modules build on this one
    from cotfactory.flows.shard_plan import merge_left_shards as merge

    with get_client(sync_client=True) as client:  # a shard that still runs is refused, not merged under it
        merged = merge(config, live=partial(flow_run_live, client))
    get_run_logger().info("merged %d shard stores this run left unmerged", len(merged))
    return len(merged)


def _warn(message: str) -> None:
    """A warning in the flow run's log (Prefect's UI) inside one, else in this module's; and on the terminal of
    a caller that shows one."""
    inside = TaskRunContext.get() is not None or FlowRunContext.get() is not None
    (get_run_logger() if inside else logging.getLogger(__name__)).warning(message)
    if (notice := current().notice) is not None:
        notice(message)


@task(name="sample-check-store", cache_policy=NO_CACHE)
def sample_check_store(config: RunConfig, prompts: list[PromptRecord]) -> tuple[str, RunProgress]:
    """The sampling loop: sample, decide with the run's chain, store, until every prompt has its target or its
    rounds; returns the run's status and progress. A rerun continues from the store."""
    store = Store(config.db)
    with store.transaction() as con:
        chain = open_chain(config, con)  # built once; an unknown benchmark fails here, before any sampling
    with chain:
        chain.setup(domains_of(prompts))  # a check that cannot work here (the sandbox) fails before the run starts
        # one writer per run: a second process waits here for the first, then continues from what it stored
        try:
            with run_writer(config.db, config.run_id(), _warn, current().stop):
                return _sample_run(config, store, chain, prompts)
        except WaitStopped:
            return "cancelled", RunProgress(config.run_id(), len(prompts))


def _sample_run(config: RunConfig, store: Store, chain: Chain, prompts: list[PromptRecord]) -> tuple[str, RunProgress]:
    control = current()
    run_id = start_run(store, config)
    with store.transaction(memory_capped=True) as con:
        state = run_progress(con, run_id)
        samples, accepted = run_totals(con, run_id)
    progress = RunProgress(run_id, len(prompts), samples=samples, accepted=accepted)
    sampler = control.sampler
    status = "failed"
    target = TargetWatch(config) if config.on_target == "abort" else None
    try:
        # The check workers start (seconds) while the engine loads (minutes on big models).
        warming = threading.Thread(target=chain.start, name="check-pool-start", daemon=True)
        warming.start()
        if target is not None:
            target.start()
        if sampler is None:
            sampler = open_sampler(config.sampler)
        warming.join()
        on_progress = control.on_progress or ProgressLog(get_run_logger())
        settle_for = target.for_round if target is not None else None
        tracker = Tracker(config, progress, prompts, state, on_progress, stream_watch(config, chain), settle_for)
        sample_continuously(config, store, sampler, chain, tracker, control.stop, rejudging=replays(config))
        status = "cancelled" if control.stopped() else "completed"
    finally:
        if control.sampler is None and sampler is not None:
            sampler.close()
        if target is not None:
            target.close()
        store.finish_run(run_id, status)  # type: ignore[arg-type]
    return status, progress


@task(name="write-report", retries=1, cache_policy=NO_CACHE)
def write_run_report(config: RunConfig, run_id: str) -> tuple[list[FunnelRow], RunCost]:
    """The run's funnel and cost as artifacts and its HTML report beside the store; a report that cannot be
    written is logged, since the run itself is stored."""
    logger = get_run_logger()
    with Store(config.db).transaction(memory_capped=True) as con:
        funnel, cost = run_funnel(con, run_id), run_cost(con, run_id)
    outcome_artifacts(run_id, funnel, cost)
    try:
        logger.info("run %s report: %s", run_id, report_artifact(config.db, run_id))
    except (OSError, CotfactoryError) as error:
        logger.error("run %s: report not written: %s", run_id, error)
    return funnel, cost


@flow(name="cotfactory-generate")
def generate(config: RunConfig | dict[str, Any] | str) -> RunSummary:
    """Sample, check and store until every selected prompt has `target_accepted` accepted samples or has used
    `max_rounds` rounds. A rerun of the same config continues where the store says the run stands.

    `config` is all a run needs (a config, its JSON table or a TOML path), so `cotfactory run`, a schedule and a
    deployment start the same flow; a caller in this process may add hooks (`run_control.controlling`).
    """
    run_config = as_config(config)
    prompts = import_and_select(run_config)
    merge_left_shards(run_config)
    status, progress = sample_check_store(run_config, prompts)
    funnel, cost = write_run_report(run_config, progress.run_id)
    summary = RunSummary(progress.run_id, status, progress, funnel, cost)
    get_run_logger().info(
        "run %s %s: %d samples in the store, %d accepted", summary.run_id, status, summary.samples, summary.accepted
    )
    return summary
