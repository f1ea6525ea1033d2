"""Run config: validation, paths read from the config's folder, run identity, per-round seeds."""

from pathlib import Path

import pytest
from run_configs import http_run_config, write_config

from cotfactory.flows.config import ConfigError, load_config, parse_config


def test_relative_paths_are_read_from_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    config = load_config(write_config(folder, http_run_config(folder, "http://127.0.0.1:9/v1")))
    assert config.db == folder / "store.duckdb"
    assert config.prompts.files == [folder / "prompts.jsonl"]
    assert load_config(folder / "run.toml", db=tmp_path / "other.duckdb").db == tmp_path / "other.duckdb"


def test_run_id_follows_what_decides_the_samples(tmp_path: Path) -> None:
    raw = http_run_config(tmp_path, "http://127.0.0.1:9/v1")
    base = parse_config(raw, tmp_path / "run.toml").run_id()
    faster = parse_config({**raw, "batch_size": 64, "checking": {"workers": 2}}, tmp_path / "run.toml")
    assert faster.run_id() == base, "batch size and workers change how fast, not what"
    for change in [
        {"name": "other"},
        {"sampling": {"seed": 4}},
        {"checks": ["think_format"]},
        {"samples_per_round": 3},
    ]:
        assert parse_config({**raw, **change}, tmp_path / "run.toml").run_id() != base, change


def test_each_round_has_its_own_seed_and_n(tmp_path: Path) -> None:
    config = parse_config(http_run_config(tmp_path, "http://127.0.0.1:9/v1"), tmp_path / "run.toml")
    rounds = [config.params_for_round(r) for r in range(3)]
    assert {p.n for p in rounds} == {2}
    assert len({p.seed for p in rounds}) == 3
    assert rounds[0].temperature == config.sampling.temperature


def test_errors_name_every_bad_key(tmp_path: Path) -> None:
    raw = http_run_config(tmp_path, "http://127.0.0.1:9/v1", target_accepted=0, batch_size="many")
    with pytest.raises(ConfigError) as error:
        parse_config(raw, tmp_path / "run.toml")
    assert "target_accepted" in str(error.value) and "batch_size" in str(error.value)


def test_api_keys_stay_out_of_config_files(tmp_path: Path) -> None:
    raw = http_run_config(tmp_path, "http://127.0.0.1:9/v1", sampler={"api_key": "sk-secret"})
    with pytest.raises(ConfigError, match="api_key_env") as error:
        parse_config(raw, tmp_path / "run.toml")
    assert "sk-secret" not in str(error.value)


def test_example_configs_are_valid() -> None:
    examples = Path(__file__).resolve().parents[1] / "examples"
    gpu = load_config(examples / "run-gpu.toml")
    assert gpu.sampler.model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert gpu.prompts.files == [examples / "prompts.jsonl"]


def test_stored_config_validates_again(tmp_path: Path) -> None:
    from cotfactory.flows.config import RunConfig

    config = parse_config(http_run_config(tmp_path, "http://127.0.0.1:9/v1"), tmp_path / "run.toml")
    again = RunConfig.model_validate(config.as_json())
    assert again == config and again.run_id() == config.run_id()


def _leaves(table: dict, prefix: str = "") -> list[str]:
    """Every dotted key of a config table down to its values (dicts of free-form options count as one value)."""
    keys = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("extra_body", "engine_args"):
            keys.extend(_leaves(value, f"{path}."))
        else:
            keys.append(path)
    return keys


def _changed(value: object, key: str) -> object:
    """Another valid value for a setting."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value > 0.01 else value + 0.5
    if isinstance(value, str):
        return {"sampler.dtype": "float16", "on_target": "abort"}.get(key, value + "-other")
    if isinstance(value, list):
        return [*value, "think_format"] if key == "checks" else [*value, "x"]
    if isinstance(value, dict):
        return {**value, "max_num_seqs": 7}
    if value is None:
        key = key.removeprefix("checking.judge.")
        return {
            "prompts.source": "s", "prompts.domain": "code", "prompts.where": "true", "prompts.limit": 3,
            "prompts.problem_field": "q", "prompts.answer_field": "a", "prompts.language": "fr",
            "sampling.top_k": 5, "sampling.stop": ["</s>"], "sampler.template.system": "Be brief.",
            "sampler.max_model_len": 2048, "sampler.api_key_env": "KEY", "checking.workers": 3,
            "checking.judge": {"sampler": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "j"}},
            "sampler.problem_field": "q", "sampler.completion_field": "c", "sampler.reasoning_field": "r",
            "cluster.work_pool": "pool", "cluster.shard_dir": "shards",
        }[key]  # fmt: skip
    raise TypeError(key)


def _set(table: dict, key: str, value: object) -> dict:
    head, _, rest = key.partition(".")
    if not rest:
        return {**table, head: value}
    return {**table, head: _set(dict(table.get(head) or {}), rest, value)}


SAMPLERS = {
    "vllm": {"kind": "vllm", "model": "org/model", "engine_args": {"swap_space": 1}},
    "openai": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "extra_body": {"k": 1}},
    "replay": {"kind": "replay", "paths": ["dump.jsonl"]},
}


@pytest.mark.parametrize("kind", SAMPLERS)
def test_every_setting_changes_the_run_id_or_is_listed_as_left_out(kind: str, tmp_path: Path) -> None:
    """Each setting of a config, the judge's included, either changes the run id or is on the documented list of
    settings left out; the list and the README agree."""
    from cotfactory.flows.run_id import RUN_ID_EXCLUDED

    (tmp_path / "dump.jsonl").write_text("")
    (tmp_path / "x").write_text("")  # a file a changed list of paths can name
    raw = http_run_config(tmp_path, "http://127.0.0.1:9/v1", sampler=SAMPLERS[kind])
    raw["sampler"] = SAMPLERS[kind]
    raw["checking"] = {"judge": {"sampler": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "j"}}}
    config = parse_config(raw, tmp_path / "run.toml")
    table = config.as_json()
    base = config.run_id()
    keys = [key for key in _leaves(table) if not key.endswith(".kind")]  # another kind is another sampler
    assert "sampler.template.system" in keys or kind == "replay"
    assert "checking.judge.sampler.template.suffix" in keys and "checking.majority_vote" in keys
    changed, left_out = [], []
    for key in keys:
        value = table
        for part in key.split("."):
            value = value[part]
        changed_table = _set(table, key, _changed(value, key))
        if key.endswith(".base_urls"):  # a fleet instead of the one endpoint
            changed_table = _set(changed_table, key.removesuffix("s"), None)
        other = parse_config(changed_table, tmp_path / "run.toml")
        assert other.as_json() != table, f"{key}: the change did not take"
        (left_out if other.run_id() == base else changed).append(key)
    assert sorted(left_out) == sorted(k for k in keys if k in RUN_ID_EXCLUDED), "left out only what the list says"
    assert {"checks", "dedup.threshold", "decontam", "sampling.seed", "checking.judge.max_tokens"} <= set(changed)
    assert kind == "replay" or {"sampler.template.suffix", "sampler.template.system", "sampler.model"} <= set(changed)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for key in RUN_ID_EXCLUDED:
        assert f"`{key}`" in readme, f"README does not list {key} among the settings left out of the run id"
