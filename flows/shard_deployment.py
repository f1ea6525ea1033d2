"""The deployment that starts shards on a work pool, and the Prefect automations that rerun a dead one: one puts
a crashed shard flow run back to `AwaitingRetry`, the other marks `Crashed` a shard flow run whose heartbeats
stopped (its worker killed with it, its node lost: nobody is left to report the crash).

Prefect acts on a trigger at least once: one death is often reported twice (by the worker and by its runner),
and an evaluation that fails on a busy database is retried after it has fired. So no action is forced: each
goes through Prefect's orchestration rules, which refuse to crash a run already ended and (the shard flow
persists its result) to reschedule a completed one. A late or repeated action cannot rerun a merged shard."""

from datetime import timedelta
from typing import Any
from uuid import UUID

from cotfactory.flows.shards import shard_run

DEPLOYMENT = "shards"
CRASH_RERUN = "cotfactory-shard-crash-rerun"
ZOMBIE = "cotfactory-shard-zombie"
# Prefect's setting read by the flow run's process: a heartbeat event every so many seconds while the flow runs.
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


def apply_deployment(work_pool: str, heartbeat_s: int = 30) -> UUID:
    """Create or update the shard flow's deployment on the work pool (its entrypoint is the installed module,
    so a worker needs cotfactory installed and nothing else). Its job's environment turns heartbeats on, on any
    kind of pool (process, Docker, Kubernetes)."""
    from prefect.deployments.runner import EntrypointType

    deployment = shard_run.to_deployment(
        name=DEPLOYMENT,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
        job_variables={"env": {HEARTBEAT_ENV: str(heartbeat_s)}},
    )
    return deployment.apply()


def _of_deployment(deployment_id: UUID) -> dict[str, str]:
    return {"prefect.resource.id": f"prefect.deployment.{deployment_id}"}


def apply_crash_rerun(deployment_id: UUID) -> None:
    """Create or update the automation by which Prefect reschedules a crashed shard flow run (its process killed,
    its node gone): flow `retries` cover a shard that raises, this covers one that dies. The shard flow itself
    stops after `MAX_ATTEMPTS` runs, so a shard that always dies ends failed."""
    from prefect.automations import Automation, ChangeFlowRunState, EventTrigger
    from prefect.client.schemas.objects import StateType

    _create_or_update(Automation(
        name=CRASH_RERUN,
        description="Reschedule a crashed cotfactory shard; it resumes from its store.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match_related=_of_deployment(deployment_id),
            for_each={"prefect.resource.id"},
            posture="Reactive",
            threshold=1,
            within=timedelta(0),
        ),
        actions=[ChangeFlowRunState(state=StateType.SCHEDULED, name="AwaitingRetry",
                                    message="rescheduled after a crash; resumes from the shard's store")],
    ))  # fmt: skip


def apply_zombie_detection(deployment_id: UUID, after_s: float = 90.0) -> None:
    """Create or update Prefect's zombie flow run automation for the shard deployment: a shard flow run that has
    started (`Running`, or a heartbeat) and then sends neither a heartbeat nor a final state for `after_s` is
    set `Crashed`, which the crash rerun then reschedules. `after_s` must span a few heartbeats: a live shard
    taken for dead would be run twice at once, both writing its store."""
    from prefect.automations import Automation, ChangeFlowRunState, EventTrigger
    from prefect.client.schemas.objects import StateType

    ended = {f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Cancelled", "Crashed")}
    _create_or_update(Automation(
        name=ZOMBIE,
        description="Mark a cotfactory shard whose heartbeats stopped as crashed, so that it is rescheduled.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
            expect={"prefect.flow-run.heartbeat", *ended},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=_of_deployment(deployment_id),
            for_each={"prefect.resource.id"},
            posture="Proactive",
            threshold=1,
            within=timedelta(seconds=after_s),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {after_s:g} s: its process or node is gone")],
    ))  # fmt: skip


def _create_or_update(automation: Any) -> None:
    """The automation of this name, created, or updated in place (one per server, whatever ran before)."""
    from prefect.automations import Automation

    try:
        existing = Automation.read(name=automation.name)
    except ValueError:
        automation.create()
        return
    automation.id = existing.id
    automation.update()
