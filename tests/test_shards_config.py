"""`[cluster]` in a run config and on the command line: where a run goes, never which run it is."""

from pathlib import Path

import pytest
from helpers import run_cli
from run_configs import http_run_config, write_config

from cotfactory.flows.config import ConfigError, load_config, parse_config
from cotfactory.flows.run_id import run_id_of
from cotfactory.flows.shards import shard_dir, shard_ref


def test_a_config_without_cluster_keeps_the_run_id_it_had_before_cluster_existed(tmp_path: Path) -> None:
    config = parse_config(http_run_config(tmp_path, "http://127.0.0.1:9/v1"), tmp_path / "run.toml")
    table = config.as_json()
    assert "cluster" in table
    assert config.run_id() == run_id_of({key: value for key, value in table.items() if key != "cluster"})


def test_cluster_settings_decide_where_a_run_goes_not_which_run_it_is(tmp_path: Path) -> None:
    raw = http_run_config(tmp_path, "http://127.0.0.1:9/v1")
    alone = parse_config(raw, tmp_path / "run.toml")
    sharded = parse_config(
        {**raw, "cluster": {"shards": 8, "work_pool": "gpu", "shard_dir": "shared/shards", "heartbeat_s": 60,
                            "zombie_after_s": 300}},
        tmp_path / "run.toml",
    )  # fmt: skip
    assert sharded.run_id() == alone.run_id()
    assert sharded.cluster.shard_dir == (tmp_path / "shared" / "shards").resolve(), "read from the config's folder"
    assert shard_dir(alone) == alone.db.with_name("store.duckdb.shards")
    ref = shard_ref(sharded, 3, 8)
    assert ref.store == sharded.cluster.shard_dir / sharded.run_id() / "shard-0003-of-0008.duckdb"
    with pytest.raises(ValueError, match="shard 8 is not one of 8"):
        shard_ref(sharded, 8, 8)


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"shards": 0}, "cluster.shards"),
        ({"work_pool": ""}, "cluster.work_pool"),
        ({"nodes": 2}, "cluster.nodes"),
        ({"heartbeat_s": 10}, "cluster.heartbeat_s"),
        ({"zombie_after_s": 5}, "cluster.zombie_after_s"),
        ({"heartbeat_s": 60, "zombie_after_s": 60}, "zombie_after_s must be longer than heartbeat_s"),
    ],
)
def test_bad_cluster_settings_fail_naming_the_key(tmp_path: Path, cluster: dict, message: str) -> None:
    raw = http_run_config(tmp_path, "http://127.0.0.1:9/v1", cluster=cluster)
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, raw))


def test_shards_without_a_work_pool_are_refused_before_any_work(tmp_path: Path) -> None:
    config = write_config(tmp_path, http_run_config(tmp_path, "http://127.0.0.1:9/v1"))
    done = run_cli("run", str(config), "--shards", "2")
    assert done.returncode != 0
    assert "needs a Prefect work pool" in done.stderr
    assert not (tmp_path / "store.duckdb").exists(), "nothing was started"


def test_a_work_pool_without_a_prefect_server_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, http_run_config(tmp_path, "http://127.0.0.1:9/v1"))
    env = {"PREFECT_API_URL": "", "PREFECT_HOME": str(tmp_path / "prefect")}
    done = run_cli("run", str(config), "--shards", "2", "--work-pool", "gpu", env=env)
    assert done.returncode != 0 and "set PREFECT_API_URL" in done.stderr, done.stderr
