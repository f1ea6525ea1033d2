"""Shared fixtures: a fresh store file per test, the location of the optional real data."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cotfactory.storage import Store

SHARED_DATA = Path(os.environ.get("COTFACTORY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(db: Path) -> Store:
    return Store(db)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, the real third-party problem sets; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set COTFACTORY_SHARED_DATA to run this test)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random-weight Qwen2 model with a tokenizer trained on the spot (no hub access)."""
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def vllm_sampler(tiny_model: Path) -> Iterator[Any]:
    """One real vLLM engine (CPU build) for the whole session: each start costs 15-80 s here."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    from cotfactory.samplers.vllm_offline import VllmOfflineConfig, VllmOfflineSampler

    config = VllmOfflineConfig(model=str(tiny_model), dtype="float32", max_model_len=1024, enforce_eager=True)
    sampler = VllmOfflineSampler(config)
    yield sampler
    sampler.close()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One temporary Prefect server for the session (starting one costs about 10 s here); flows in this process
    use it, and subprocesses get its URL as PREFECT_API_URL."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_MEMO_STORE_PATH", str(home / "memo_store.toml"))
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    """A sandbox of two slots for one test module; afterwards no process of its uids may be left."""
    from sandbox_probes import live_processes_of_uids

    from cotfactory.filters.sandbox import Sandbox

    built = Sandbox(slots=2)
    built.check_available()  # fails loudly here when bubblewrap or the seccomp binding is missing
    yield built
    assert live_processes_of_uids(range(built.base_uid, built.base_uid + built.slots)) == []
