"""A sampler is one module and one registry entry: nothing else in the project names it."""

import ast
from pathlib import Path

import pytest
from helpers import run_script_with
from pydantic import BaseModel
from run_configs import http_run_config, write_config

from cotfactory.flows.config import SAMPLER_CONFIGS
from cotfactory.samplers.base import Sampler, SamplerSettings
from cotfactory.samplers.registry import SAMPLERS, SamplerKind
from cotfactory.samplers.units import StreamingSampler

ECHO_SAMPLER = '''
from cotfactory.samplers.base import Completion, Sampler, SamplerSettings


class EchoConfig(SamplerSettings):
    model: str = "echo"
    answer: str


class EchoSampler(Sampler):
    """Answers every problem with the configured answer, after a short closed reasoning."""

    def __init__(self, config: EchoConfig) -> None:
        self.config = config

    def generate(self, requests):
        text = "<think>\\nThe answer is " + self.config.answer + ".\\n</think>\\n\\\\boxed{" + self.config.answer + "}"
        return [[Completion(text, finish_reason="stop") for _ in range(r.params.n)] for r in requests]
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
    module = tmp_path / "echo_sampler.py"
    module.write_text(ECHO_SAMPLER)
    raw = http_run_config(tmp_path, "unused", samples_per_round=1, max_rounds=1)
    good = write_config(tmp_path, {**raw, "sampler": {"kind": "echo", "answer": "6"}}, "echo.toml")
    bad = write_config(tmp_path, {**raw, "sampler": {"kind": "echo", "answr": "6"}}, "bad.toml")
    lines = run_script_with(module, RUN_WITH_ECHO, str(good), str(bad), prefect_api=prefect_api)
    # its own settings are validated like any sampler's, naming the key
    assert lines[0].startswith("bad config:") and "bad.toml" in lines[0] and "sampler.answr" in lines[0]
    # the example problem whose answer is 6 is accepted; the others are wrong answers
    status, accepted = lines[-1].split()
    assert status == "completed" and int(accepted) >= 1


ROOT = Path(__file__).resolve().parents[1]
# The sampler contract a run may use: the request and completion types, the unit queue, the registry.
CONTRACT = {"cotfactory.samplers.base", "cotfactory.samplers.units", "cotfactory.samplers.registry"}
PROBE_CALLS = {"hasattr", "getattr"}
PROTOCOLS = {"Sampler", "StreamingSampler"}


def sampler_imports(source: str) -> set[str]:
    """The cotfactory.samplers modules a module imports, other than the contract."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "cotfactory.samplers" else [
                f"cotfactory.samplers.{alias.name}" for alias in node.names]  # fmt: skip
        found |= {name for name in names if name.startswith("cotfactory.samplers") and name not in CONTRACT}
    return found


def sampler_probes(source: str) -> list[str]:
    """`hasattr`/`getattr` on anything named like a sampler, and runtime protocol checks against a sampler
    protocol: what a sampler's registry entry or protocol declares is never probed."""
    probes = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
            continue
        if node.func.id in PROBE_CALLS and "sampler" in ast.unparse(node.args[0]).lower():
            probes.append(ast.unparse(node))
        checks_protocol = node.func.id in ("isinstance", "issubclass") and len(node.args) == 2
        if checks_protocol and PROTOCOLS & {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}:
            probes.append(ast.unparse(node))
    return probes


@pytest.mark.parametrize(
    ("source", "imports", "probes"),
    [
        ("from cotfactory.samplers.vllm_offline import LOCAL_MODEL_PREFIXES", {"cotfactory.samplers.vllm_offline"}, 0),
        ("import cotfactory.samplers.replay as replay", {"cotfactory.samplers.replay"}, 0),
        ("from cotfactory.samplers import openai_http", {"cotfactory.samplers.openai_http"}, 0),
        ("from cotfactory.samplers.registry import SAMPLERS\nfrom cotfactory.samplers import base", set(), 0),
        ("rejudging = getattr(self.sampler, 'replays', False)", set(), 1),
        ("if hasattr(judge_sampler, 'close'): pass", set(), 1),
        ("streams = isinstance(engine, StreamingSampler)", set(), 1),
        ("value = getattr(config, 'workers', 1)\nok = isinstance(unit, Unit)", set(), 0),
    ],
)
def test_the_scans_find_what_they_look_for(source: str, imports: set[str], probes: int) -> None:
    assert sampler_imports(source) == imports
    assert len(sampler_probes(source)) == probes


def test_flows_import_only_the_sampler_contract_and_never_probe_a_sampler() -> None:
    flows = sorted((ROOT / "flows").glob("*.py"))
    assert len(flows) > 10
    imports = {path.name: sampler_imports(path.read_text()) for path in flows}
    assert {name: found for name, found in imports.items() if found} == {}
    for path in [*flows, ROOT / "samplers" / "units.py"]:
        assert sampler_probes(path.read_text()) == [], path.name


def test_samplers_never_see_storage_records() -> None:
    for path in sorted((ROOT / "samplers").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
        assert not imported & {"PromptRecord", "JudgedSample", "CompletionRecord"}, path.name


def test_registry_entries_declare_what_their_samplers_do() -> None:
    assert {kind: (entry.streams, entry.recorded) for kind, entry in SAMPLERS.items()} == {
        "vllm": (True, False), "openai": (True, False), "replay": (False, True)}  # fmt: skip
    for entry in SAMPLERS.values():
        assert issubclass(entry.settings, SamplerSettings)
        assert issubclass(entry.sampler, StreamingSampler if entry.streams else Sampler)


class _Settings(SamplerSettings):
    model: str = "m"


class _Batches(Sampler):
    def generate(self, requests):  # type: ignore[no-untyped-def]
        return [[] for _ in requests]


class _Bare:
    def generate(self, requests):  # type: ignore[no-untyped-def]
        return [[] for _ in requests]


def test_a_wrong_declaration_fails_when_the_entry_is_made() -> None:
    SamplerKind(_Settings, _Batches)  # a batch sampler: generate, and the protocol's defaults
    with pytest.raises(TypeError, match="StreamingSampler"):
        SamplerKind(_Settings, _Batches, streams=True)  # declares streaming, has no stream()
    with pytest.raises(TypeError, match="does not meet Sampler"):
        SamplerKind(_Settings, _Bare)  # neither subclasses the protocol nor defines close/endpoint_counts
    with pytest.raises(TypeError, match="SamplerSettings"):
        SamplerKind(BaseModel, _Batches)  # type: ignore[arg-type]
    assert _Batches().endpoint_counts() == {} and _Batches().close() is None
