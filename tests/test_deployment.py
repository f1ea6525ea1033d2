"""A run started by a Prefect deployment: the flow's parameters are the config's JSON alone, and a process that
holds nothing but the deployment's flow run id runs it to the end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from openai_server import OpenAIServer
from run_configs import http_run_config, write_config

from cotfactory.flows.config import load_config
from cotfactory.flows.generate import generate
from cotfactory.storage import query


@pytest.mark.slow
def test_a_deployment_starts_the_flow_from_its_parameters_alone(prefect_api: str, tmp_path: Path) -> None:
    import json

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.deployments.runner import EntrypointType

    with OpenAIServer() as server:
        config = load_config(write_config(tmp_path, http_run_config(tmp_path, server.url, max_rounds=1)))
        parameters = {"config": config.as_json()}
        json.dumps(parameters)  # nothing but JSON travels
        deployment = generate.to_deployment(
            name="from-parameters", parameters=parameters, entrypoint_type=EntrypointType.MODULE_PATH
        )
        deployment_id = deployment.apply()
        flow_run = run_deployment(deployment_id, timeout=0)  # scheduled; no process of ours runs it
        env = {**os.environ, "PREFECT_API_URL": prefect_api}
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "flow-run", "execute", str(flow_run.id)],
            capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert server.requests, "the flow run sampled from the server"

    async def final_state() -> str:
        async with get_client() as client:
            return (await client.read_flow_run(flow_run.id)).state.type.value

    import asyncio

    assert asyncio.run(final_state()) == "COMPLETED"
    ((flow_run_id, status),) = query("SELECT flow_run_id, status FROM runs", config.db).rows()
    assert (flow_run_id, status) == (str(flow_run.id), "completed"), "the store records the deployment's flow run"
    ((samples,),) = query("SELECT count(*) FROM samples", config.db).rows()
    assert samples == 10, "five prompts, two samples each"
