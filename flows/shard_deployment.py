"""The deployment that starts shards on a work pool, and the Prefect automation that reruns a crashed one."""

from uuid import UUID

from cotfactory.flows.shards import shard_run

DEPLOYMENT = "shards"
CRASH_RERUN = "cotfactory-shard-crash-rerun"


def apply_deployment(work_pool: str) -> UUID:
    """Create or update the shard flow's deployment on the work pool (its entrypoint is the installed module,
    so a worker needs cotfactory installed and nothing else)."""
    from prefect.deployments.runner import EntrypointType

    deployment = shard_run.to_deployment(
        name=DEPLOYMENT, work_pool_name=work_pool, entrypoint_type=EntrypointType.MODULE_PATH
    )
    return deployment.apply()


def apply_crash_rerun(deployment_id: UUID) -> None:
    """Create or update the automation by which Prefect reschedules a crashed shard flow run (its process killed,
    its node gone): flow `retries` cover a shard that raises, this covers one that dies. The shard flow itself
    stops after `MAX_ATTEMPTS` runs, so a shard that always dies ends failed."""
    from datetime import timedelta

    from prefect.automations import Automation, ChangeFlowRunState, EventTrigger
    from prefect.client.schemas.objects import StateType

    automation = Automation(
        name=CRASH_RERUN,
        description="Reschedule a crashed cotfactory shard; it resumes from its store.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            for_each={"prefect.resource.id"},
            posture="Reactive",
            threshold=1,
            within=timedelta(0),
        ),
        actions=[ChangeFlowRunState(state=StateType.SCHEDULED, name="AwaitingRetry", force=True,
                                    message="rescheduled after a crash; resumes from the shard's store")],
    )  # fmt: skip
    try:
        existing = Automation.read(name=CRASH_RERUN)
    except ValueError:
        automation.create()
        return
    automation.id = existing.id
    automation.update()
