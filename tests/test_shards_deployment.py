"""The shard deployment and its automations as a Prefect server holds them: heartbeats on in the job's environment,
the zombie automation scoped to the deployment, each automation created once and updated in place."""

import asyncio

from cotfactory.flows.shard_deployment import (
    CRASH_RERUN,
    HEARTBEAT_ENV,
    ZOMBIE,
    apply_crash_rerun,
    apply_deployment,
    apply_zombie_detection,
)


def test_the_deployment_sends_heartbeats_and_a_silent_shard_is_marked_crashed(prefect_api: str) -> None:
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async def make_pool() -> None:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name="shards-test", type="process"))

    asyncio.run(make_pool())
    deployment_id = apply_deployment("shards-test", heartbeat_s=45)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(deployment_id)
    assert deployment.job_variables == {"env": {HEARTBEAT_ENV: "45"}}
    for after_s in (120.0, 60.0):  # a second call updates the automation in place, a new window and all
        apply_crash_rerun(deployment_id)
        apply_zombie_detection(deployment_id, after_s)
    zombie = Automation.read(name=ZOMBIE)
    trigger = zombie.trigger
    assert trigger.posture == "Proactive" and trigger.within.total_seconds() == 60.0
    assert trigger.after == {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Crashed"} <= trigger.expect
    assert trigger.match_related.get("prefect.resource.id") == [f"prefect.deployment.{deployment_id}"]
    assert zombie.actions[0].type == "change-flow-run-state" and zombie.actions[0].state == "CRASHED"
    with get_client(sync_client=True) as client:
        names = [automation.name for automation in client.read_automations()]
    assert sorted(name for name in names if name in (ZOMBIE, CRASH_RERUN)) == [CRASH_RERUN, ZOMBIE], "one of each"
