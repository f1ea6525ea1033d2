"""`cotfactory run` keeps engine and library chatter off the terminal (in DB.log beside the store) unless
--verbose, and never hides an error: a failing run shows the log's last lines."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from run_configs import http_run_config, write_config

# A sampler that talks like an engine: a native write to fd 2, a child process's stderr, a Python warning and
# a library logger's warning, then answers (or fails, when told to).
NOISY_SAMPLER = """
import logging, os, subprocess, sys, warnings
from cotfactory.samplers.base import Completion, Sampler, SamplerSettings


class NoisyConfig(SamplerSettings):
    model: str = "noisy"
    fail: bool = False


class NoisySampler(Sampler):
    def __init__(self, config: NoisyConfig) -> None:
        self.config = config
        os.write(2, b"[W native] NUMA binding warning from C++\\n")
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('engine child: Triton not found\\\\n')"])
        warnings.warn("a deprecated call in a library", DeprecationWarning, stacklevel=1)
        warnings.warn("a library user warning", UserWarning, stacklevel=1)
        logging.getLogger("vllm.fake").warning("libtcmalloc is not found in LD_PRELOAD")

    def generate(self, requests):
        if self.config.fail:
            os.write(2, b"engine child: CUDA out of memory (the root cause)\\n")
            raise RuntimeError("Engine core initialization failed. See root cause above.")
        text = "<think>\\nSo 6.\\n</think>\\n\\\\boxed{6}"
        return [[Completion(text, finish_reason="stop") for _ in range(r.params.n)] for r in requests]
"""

RUN_CLI = """
import logging, sys
logging.getLogger("vllm.fake").addHandler(logging.StreamHandler(sys.stderr))
from cotfactory.samplers.registry import SAMPLERS, SamplerKind
from noisy_sampler import NoisyConfig, NoisySampler
SAMPLERS["noisy"] = SamplerKind(NoisyConfig, NoisySampler)
from cotfactory.flows.cli import main
sys.argv = ["cotfactory", "run", *sys.argv[1:]]
main()
"""

CHATTER = ("NUMA binding", "Triton not found", "deprecated call", "library user warning", "libtcmalloc")


def run(tmp_path: Path, prefect_api: str, *args: str, fail: bool = False) -> subprocess.CompletedProcess[str]:
    (tmp_path / "noisy_sampler.py").write_text(NOISY_SAMPLER)
    raw = http_run_config(tmp_path, "unused", samples_per_round=1, max_rounds=1)
    config = write_config(tmp_path, {**raw, "sampler": {"kind": "noisy", "fail": fail}}, "noisy.toml")
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUN_CLI), str(config), *args],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip


def test_library_chatter_goes_to_the_log_beside_the_store_and_the_terminal_keeps_the_run(
    prefect_api: str, tmp_path: Path
) -> None:
    done = run(tmp_path, prefect_api)
    assert done.returncode == 0, done.stderr[-3000:]
    terminal = done.stdout + done.stderr
    assert not [line for line in CHATTER if line in terminal], terminal[-3000:]
    assert "funnel of run" in done.stdout and "completed" in done.stderr
    log = next(tmp_path.glob("*.duckdb.log"))
    assert f"engine and library messages: {log.name}" in done.stderr.replace(str(tmp_path) + "/", "")
    logged = log.read_text()
    # (a DeprecationWarning is hidden by Python's own default filters, so it is in neither place)
    assert all(line in logged for line in CHATTER if line != "deprecated call"), logged


def test_verbose_shows_the_chatter_on_the_terminal(prefect_api: str, tmp_path: Path) -> None:
    done = run(tmp_path, prefect_api, "--verbose")
    assert done.returncode == 0, done.stderr[-3000:]
    assert all(line in done.stderr for line in ("NUMA binding", "Triton not found", "library user warning"))


def test_a_failing_run_shows_the_logged_root_cause(prefect_api: str, tmp_path: Path) -> None:
    done = run(tmp_path, prefect_api, fail=True)
    assert done.returncode != 0
    assert "CUDA out of memory (the root cause)" in done.stderr  # the log's tail, shown on failure
    assert "Engine core initialization failed" in done.stderr
