"""A fleet of endpoints split between the shards of a run: endpoint j to shard j mod K when there are at least K
endpoints; with fewer, every shard sends to all of them (and says so)."""

import logging
from contextlib import ExitStack
from pathlib import Path

import pytest
from openai_server import OpenAIServer
from run_configs import http_run_config

from cotfactory.flows.config import parse_config
from cotfactory.flows.run_control import controlling
from cotfactory.flows.shard_pool import prepare_shards
from cotfactory.flows.shards import fleet_share, sample_shard, shard_config, shard_ref

URLS = [f"http://10.0.0.{i}:8000/v1" for i in range(5)]


def test_each_endpoint_goes_to_one_shard_when_there_are_enough() -> None:
    shares = [fleet_share(URLS, shard, 2) for shard in range(2)]
    assert shares == [[URLS[0], URLS[2], URLS[4]], [URLS[1], URLS[3]]]
    shares = [fleet_share(URLS, shard, 5) for shard in range(5)]
    assert shares == [[url] for url in URLS], "as many endpoints as shards: one each"
    assert sorted(url for shard in range(3) for url in fleet_share(URLS, shard, 3)) == sorted(URLS)


def test_with_fewer_endpoints_than_shards_every_shard_uses_them_all() -> None:
    assert all(fleet_share(URLS, shard, 6) == URLS for shard in range(6))
    assert fleet_share(URLS[:1], 3, 4) == URLS[:1]


def fleet_config(tmp_path: Path, urls: list[str], shards: int = 2):  # type: ignore[no-untyped-def]
    raw = http_run_config(tmp_path, "unused")
    raw["sampler"] = {"kind": "openai", "base_urls": urls, "model": "r1-test", "max_retries": 1}
    raw["cluster"] = {"shards": shards}
    return parse_config(raw, tmp_path / "run.toml")


def test_a_shard_config_keeps_the_run_and_names_only_its_endpoints(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    config = fleet_config(tmp_path, URLS, shards=2)
    caplog.set_level(logging.INFO, logger="cotfactory.flows.shards")
    local = shard_config(config, shard_ref(config, 1, 2))
    assert local.sampler.base_urls == [URLS[1], URLS[3]]
    assert local.run_id() == config.run_id(), "the endpoints are not part of the run id"
    assert config.sampler.base_urls == URLS, "the run's config is left as it was"
    assert "endpoints http://10.0.0.1:8000/v1, http://10.0.0.3:8000/v1" in caplog.text

    few = fleet_config(tmp_path, URLS[:2], shards=4)
    caplog.clear()
    assert shard_config(few, shard_ref(few, 3, 4)).sampler.base_urls == URLS[:2]
    assert "2 endpoints for 4 shards, so every shard sends to all of them" in caplog.text


@pytest.mark.parametrize("shards", [1, 3])
def test_one_endpoint_or_one_shard_is_left_as_it_is(tmp_path: Path, shards: int) -> None:
    raw = http_run_config(tmp_path, URLS[0], cluster={"shards": shards})
    config = parse_config(raw, tmp_path / "run.toml")
    assert shard_config(config, shard_ref(config, 0, shards)).sampler == config.sampler
    fleet = fleet_config(tmp_path, URLS, shards=1)
    assert shard_config(fleet, shard_ref(fleet, 0, 1)).sampler.base_urls == URLS


def test_a_shard_sends_only_to_its_own_endpoints(tmp_path: Path) -> None:
    with ExitStack() as stack:
        servers = [stack.enter_context(OpenAIServer()) for _ in range(4)]
        config = fleet_config(tmp_path, [server.url for server in servers], shards=2)
        _, pending, _ = prepare_shards(config, 2)
        assert [ref.shard for ref in pending] == [0, 1]
        with controlling(on_progress=lambda progress: None):  # what a worker's flow run sets up
            result = sample_shard(config, 1, 2)
    assert result.status == "completed" and result.samples > 0
    assert [len(server.requests) > 0 for server in servers] == [False, True, False, True]
