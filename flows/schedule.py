"""Scheduled runs: the generate flow served as a Prefect deployment with a cron schedule."""

from typing import Any

from prefect.schedules import Cron

from cotfactory.flows.config import RunConfig
from cotfactory.flows.generate import generate


def deployment(config: RunConfig, *, cron: str, name: str, timezone: str = "UTC") -> Any:
    """A deployment of the generate flow that runs `config` on the cron schedule. The config travels as JSON
    with absolute paths, so the scheduled runs do not depend on the serving process's folder."""
    try:
        schedule = Cron(cron, timezone=timezone)
    except ValueError as error:
        from cotfactory.flows.config import ConfigError

        raise ConfigError(f"--cron {cron!r}: {error}") from None
    return generate.to_deployment(
        name=name,
        schedule=schedule,
        parameters={"config": config.as_json()},
        description=f"cotfactory run {config.run_id()} ({config.name}) on {cron}",
        tags=["cotfactory"],
    )


def serve_on_schedule(config: RunConfig, *, cron: str, name: str, timezone: str = "UTC") -> None:
    """Register the deployment and run its scheduled flow runs in this process until it is stopped."""
    from prefect import serve

    serve(deployment(config, cron=cron, name=name, timezone=timezone))
