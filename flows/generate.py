"""The generate flow: R1's rejection-sampling stage. Every prompt still short of its target is sampled, each
sample is checked and stored with its verdicts, and a prompt still short after a round is sampled again at
once, until each has its target or its rounds are used up. Sampling never waits for checking or storing, nor
for other prompts (`continuous`).
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from cotfactory.flows.components import (
    open_checks,
    open_decontaminator,
    open_sampler,
    open_stages,
    prepare_checks,
)
from cotfactory.flows.config import RunConfig
from cotfactory.flows.continuous import ProgressCallback, RunProgress, Tracker, sample_continuously
from cotfactory.flows.report import report_artifact
from cotfactory.flows.run_state import (
    FunnelRow,
    import_prompt_files,
    run_funnel,
    run_progress,
    run_totals,
    select_prompts,
)
from cotfactory.samplers.base import Sampler
from cotfactory.storage import RunRecord, Store
from cotfactory.storage.errors import CotfactoryError

__all__ = ["ProgressCallback", "RunProgress", "RunSummary", "generate"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did, returned by the flow; the funnel is read from the store after the run."""

    run_id: str
    status: str
    progress: RunProgress
    funnel: list[FunnelRow]

    @property
    def samples(self) -> int:
        """Every sample the store holds for the run."""
        return sum(row.samples for row in self.funnel)

    @property
    def accepted(self) -> int:
        return sum(row.samples for row in self.funnel if row.reason == "accepted")


def _start_run(store: Store, config: RunConfig) -> str:
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


def _funnel_artifact(run_id: str, funnel: list[FunnelRow]) -> None:
    table = [
        {"check": row.check_name, "reason": row.reason, "samples": row.samples, "share": round(row.share, 4)}
        for row in funnel
    ]
    create_table_artifact(key=f"funnel-{run_id}", table=table, description=f"Outcome of every sample of run {run_id}")


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


@flow(name="cotfactory-generate", validate_parameters=False)
def generate(
    config: RunConfig | dict[str, Any],
    sampler: Sampler | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Sample, check and store until every selected prompt has `target_accepted` accepted samples or has used
    `max_rounds` rounds. A rerun of the same config continues where the store says the run stands.

    `sampler` replaces the configured one (an engine the caller already holds); `stop`, once set, ends the run
    after the batch in flight is stored.
    """
    config = RunConfig.model_validate(config) if isinstance(config, dict) else config
    logger = get_run_logger()
    store = Store(config.db)
    new_prompts = import_prompt_files(store, config.prompts)
    with store.transaction() as con:
        prompts = select_prompts(con, config.prompts)
        decontaminator = open_decontaminator(config, con)
    prepare_checks(config, prompts)
    run_id = _start_run(store, config)
    logger.info("run %s: %d prompts selected (%d newly imported) from %s", run_id, len(prompts), new_prompts, store)
    with store.transaction(memory_capped=True) as con:
        state = run_progress(con, run_id)
        samples, accepted = run_totals(con, run_id)
    progress = RunProgress(run_id, len(prompts), samples=samples, accepted=accepted)
    owned = sampler is None
    status = "failed"
    try:
        with open_checks(config) as checker:
            # The check workers start (seconds) while the engine loads (minutes on big models).
            warming = threading.Thread(target=checker.start, name="check-pool-start", daemon=True)
            warming.start()
            if sampler is None:
                sampler = open_sampler(config.sampler)
            warming.join()
            tracker = Tracker(config, progress, prompts, state, on_progress)
            stages = open_stages(config, sampler, decontaminator)
            sample_continuously(config, store, sampler, checker, tracker, stop, stages)
        status = "cancelled" if _stopped(stop) else "completed"
    finally:
        if owned and sampler is not None and hasattr(sampler, "close"):
            sampler.close()
        store.finish_run(run_id, status)  # type: ignore[arg-type]
    with store.transaction(memory_capped=True) as con:
        funnel = run_funnel(con, run_id)
    _funnel_artifact(run_id, funnel)
    try:
        logger.info("run %s report: %s", run_id, report_artifact(config.db, run_id))
    except (OSError, CotfactoryError) as error:  # the run is stored; only its report is missing
        logger.error("run %s: report not written: %s", run_id, error)
    summary = RunSummary(run_id, status, progress, funnel)
    logger.info("run %s %s: %d samples in the store, %d accepted", run_id, status, summary.samples, summary.accepted)
    return summary
