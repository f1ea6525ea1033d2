"""The install without vLLM (`pip install -e .`, for users who drive `vllm serve` servers over HTTP) runs a real
flow. `make test` also runs this file in a venv of the base dependencies alone (`make base-check`), where the
environment says so and vLLM must be absent; in the full venv it runs as one more HTTP flow test."""

import importlib.util
import os
import subprocess
from pathlib import Path

from helpers import cli
from openai_server import OpenAIServer
from r1_answers import r1_style
from run_configs import http_run_config, write_config

from cotfactory.storage import query

BASE_INSTALL = os.environ.get("COTFACTORY_BASE_INSTALL") == "1"


def test_a_flow_runs_over_http_with_prefects_own_temporary_server(tmp_path: Path) -> None:
    if BASE_INSTALL:
        assert importlib.util.find_spec("vllm") is None, "the base install must not hold vLLM"
    with OpenAIServer(r1_style) as server:
        config = write_config(tmp_path, http_run_config(tmp_path, server.url, max_rounds=1))
        # No PREFECT_API_URL: the flow starts Prefect's temporary server, which is what failed under a newer
        # fastapi than Prefect supports.
        env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
        env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        result = subprocess.run(
            [*cli(), "run", str(config)], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "completed: 10 samples in the store" in result.stderr, result.stderr[-3000:]
    assert query("SELECT status FROM runs", tmp_path / "store.duckdb").rows() == [("completed",)]
    assert len(server.requests) == 10, "one request per sample"
