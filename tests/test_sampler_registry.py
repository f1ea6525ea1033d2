"""A sampler is one module and one registry entry: nothing else in the project names it."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from run_configs import http_run_config, write_config

from cotfactory.flows.config import SAMPLER_CONFIGS
from cotfactory.samplers.registry import SAMPLERS

ECHO_SAMPLER = '''
from pydantic import BaseModel, ConfigDict

from cotfactory.samplers.base import Completion


class EchoConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str = "echo"
    answer: str


class EchoSampler:
    """Answers every problem with the configured answer, after a short closed reasoning."""

    def __init__(self, config: EchoConfig) -> None:
        self.config = config

    def generate(self, prompts, params):
        text = "<think>\\nThe answer is " + self.config.answer + ".\\n</think>\\n\\\\boxed{" + self.config.answer + "}"
        return [[Completion(text, finish_reason="stop") for _ in range(params.n)] for _ in prompts]
'''

RUN_WITH_ECHO = """
import sys
from cotfactory.samplers.registry import SAMPLERS, SamplerKind
from echo_sampler import EchoConfig, EchoSampler
SAMPLERS["echo"] = SamplerKind(EchoConfig, EchoSampler)  # the one entry

from cotfactory.flows.config import ConfigError, load_config
from cotfactory.flows.generate import generate
try:
    load_config(sys.argv[2])
except ConfigError as error:
    print("bad config:", error)
summary = generate(load_config(sys.argv[1]))
print(summary.status, summary.accepted)
"""


def test_every_registered_sampler_has_a_config_kind() -> None:
    assert set(SAMPLER_CONFIGS) == set(SAMPLERS) == {"vllm", "openai", "replay"}
    for kind, config in SAMPLER_CONFIGS.items():
        assert config.model_fields["kind"].annotation.__args__ == (kind,)


def test_a_sampler_added_by_one_registry_entry_runs_a_flow(prefect_api: str, tmp_path: Path) -> None:
    (tmp_path / "echo_sampler.py").write_text(ECHO_SAMPLER)
    raw = http_run_config(tmp_path, "unused", samples_per_round=1, max_rounds=1)
    good = write_config(tmp_path, {**raw, "sampler": {"kind": "echo", "answer": "6"}}, "echo.toml")
    bad = write_config(tmp_path, {**raw, "sampler": {"kind": "echo", "answr": "6"}}, "bad.toml")
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUN_WITH_ECHO), str(good), str(bad)],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    # its own settings are validated like any sampler's, naming the key
    assert lines[0].startswith("bad config:") and "bad.toml" in lines[0] and "sampler.answr" in lines[0]
    # the example problem whose answer is 6 is accepted; the others are wrong answers
    status, accepted = lines[-1].split()
    assert status == "completed" and int(accepted) >= 1
