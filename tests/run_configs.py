"""Run configs for tests, written as real TOML files next to a prompt file."""

import json
from pathlib import Path
from typing import Any

from r1_answers import prompt_lines


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # JSON string escapes are valid TOML basic strings
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(type(value))


def toml_text(config: dict[str, Any]) -> str:
    """Top-level keys first, then one [table] per dict."""
    lines = [f"{key} = {toml_value(value)}" for key, value in config.items() if not isinstance(value, dict)]
    for key, table in config.items():
        if isinstance(table, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{name} = {toml_value(value)}" for name, value in table.items())
    return "\n".join(lines) + "\n"


def http_run_config(folder: Path, url: str, **overrides: Any) -> dict[str, Any]:
    """A run over the five R1-style example problems against the test server at `url`."""
    (folder / "prompts.jsonl").write_text(prompt_lines())
    config: dict[str, Any] = {
        "name": "test",
        "db": "store.duckdb",
        "samples_per_round": 2,
        "target_accepted": 1,
        "max_rounds": 2,
        "batch_size": 2,
        "prompts": {"files": ["prompts.jsonl"], "source": "examples", "language": "en"},
        "sampler": {"kind": "openai", "base_url": url, "model": "r1-test", "max_retries": 1, "backoff_base_s": 0.0},
        "sampling": {"max_tokens": 4096, "seed": 3},
        "checking": {"workers": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def write_config(folder: Path, config: dict[str, Any], name: str = "run.toml") -> Path:
    path = folder / name
    path.write_text(toml_text(config))
    return path


def sample_position(config: Any, body: dict[str, Any]) -> tuple[int, int]:
    """The (round, index) of the sample an HTTP request of a run under `config` asks for: one request per sample,
    seeded with its round's seed for the prompt plus its index."""
    from cotfactory.samplers.base import R1_SUFFIX
    from cotfactory.storage.ids import prompt_id_for

    prompt_id = prompt_id_for(body["messages"][-1]["content"].removesuffix(f"\n{R1_SUFFIX}"))
    for round_index in range(config.max_rounds):
        index = body["seed"] - config.params_for_round(round_index).seed_for(prompt_id)
        if 0 <= index < config.samples_per_round:
            return round_index, index
    raise LookupError(f"no sample of the run has seed {body['seed']}")
