"""Per-endpoint counts of an HTTP sampler's fleet, written with each commit to `run_endpoints` (summed over a
run's invocations), so that `status` shows them while a run goes and after it ends."""

from typing import Any

import duckdb

from cotfactory.samplers.base import Sampler
from cotfactory.storage.records import utc_now

_SUMMED = ("requests", "sequences", "failures")

_UPSERT = """
INSERT INTO run_endpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, endpoint) DO UPDATE SET
    requests = run_endpoints.requests + excluded.requests,
    sequences = run_endpoints.sequences + excluded.sequences,
    failures = run_endpoints.failures + excluded.failures,
    set_aside = excluded.set_aside,
    last_error = excluded.last_error,
    updated_at = excluded.updated_at
"""


class EndpointLedger:
    """What a sampler's endpoints did since the last commit, added to the store's counts in that commit.
    Samplers without endpoints (vLLM in process, replay) write nothing."""

    def __init__(self, run_id: str, sampler: Sampler) -> None:
        self.run_id = run_id
        self._read = sampler.endpoint_counts
        self._written: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, dict[str, Any]] = {}

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        """Add the counts since the last write (called inside the commit's transaction)."""
        counts = self._read()
        now = utc_now()
        rows = []
        for url, current in counts.items():
            before = self._written.get(url, {})
            deltas = [int(current[key]) - int(before.get(key, 0)) for key in _SUMMED]
            rows.append([self.run_id, url, *deltas, bool(current["set_aside"]), str(current["last_error"]), now])
        if rows:
            con.executemany(_UPSERT, rows)
        # a failed commit ends the run, so counts written here are never written twice
        self._written = self.latest = counts
