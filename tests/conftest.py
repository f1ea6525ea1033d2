"""Shared fixtures: a fresh store file per test, the location of the optional real data."""

import os
from pathlib import Path

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
