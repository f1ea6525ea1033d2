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
