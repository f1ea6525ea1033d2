"""`cotfactory report`: one HTML file describing a run or a set, written from the store; every run also writes
its own beside the store (`reports/RUN_ID.html`) and points a Prefect link artifact at it."""

import os
from pathlib import Path

from cotfactory.flows.report_data import report_data
from cotfactory.flows.report_html import render_report
from cotfactory.storage.connection import limit_memory
from cotfactory.storage.query import open_read_only

# Every run writes its report at its end: bounded, so that the run's peak memory does not grow with its store
# (the report counts bins in SQL; what DuckDB reads beyond this is evicted, not kept).
REPORT_MEMORY_LIMIT = os.environ.get("COTFACTORY_REPORT_MEMORY", "128MB")


def write_report(db: str | Path, out: str | Path, *, run_id: str | None = None, set_ref: str | None = None) -> Path:
    """Write the report of run `run_id` or set `set_ref` in store `db` to `out`; returns `out`."""
    with open_read_only(db) as con:
        limit_memory(con, REPORT_MEMORY_LIMIT)
        data = report_data(con, run_id=run_id, set_ref=set_ref)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(data), encoding="utf-8")
    return out


def run_report_path(db: str | Path, run_id: str) -> Path:
    """Where a run's own report goes: `reports/RUN_ID.html` beside the store."""
    return Path(db).parent / "reports" / f"{run_id}.html"


def report_artifact(db: str | Path, run_id: str) -> Path:
    """Write the run's report beside the store and a Prefect link artifact pointing to it."""
    from prefect.artifacts import create_link_artifact

    path = write_report(db, run_report_path(db, run_id), run_id=run_id).resolve()
    create_link_artifact(
        key=f"report-{run_id}",
        link=path.as_uri(),
        link_text=f"report of run {run_id}",
        description="Funnel, difficulty, lengths, throughput, language shares and rejected samples (HTML).",
    )
    return path
