"""What the store says about a run: its prompts, how far each got, and the funnel. Resume is read from here,
never from Prefect's cache, so a rerun after a crash samples exactly what is missing."""

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from cotfactory.flows.config import ConfigError, PromptSelection, RunConfig
from cotfactory.flows.import_prompts import import_prompts
from cotfactory.storage import PromptRecord, Store

# The flow reads the funnel from here too (one reader of the view, in storage/funnel.py).
from cotfactory.storage.funnel import FunnelRow as FunnelRow
from cotfactory.storage.funnel import run_funnel as run_funnel

PROMPT_COLUMNS = (
    "prompt_id", "source", "problem", "reference", "domain", "target_language", "metadata", "added_at", "tests"
)  # fmt: skip


@dataclass
class PromptProgress:
    """How far one prompt got in a run."""

    rounds_done: int = 0
    accepted: int = 0


def import_prompt_files(store: Store, selection: PromptSelection) -> int:
    """Import the config's prompt files (already stored prompts are skipped); returns how many were new."""
    if not selection.files:
        return 0
    report = import_prompts(
        store,
        selection.files,
        source=selection.source,
        problem_field=selection.problem_field,
        answer_field=selection.answer_field,
        domain=selection.domain,
        target_language=selection.language,
    )
    return report.new


def select_prompts(con: duckdb.DuckDBPyConnection, selection: PromptSelection) -> list[PromptRecord]:
    """The selected prompts in prompt-id order (stable across reruns, so `limit` picks the same ones)."""
    conditions, values = ["TRUE"], []
    if selection.source is not None:
        conditions.append("source = ?")
        values.append(selection.source)
    if selection.domain is not None:
        conditions.append("domain = ?")
        values.append(selection.domain)
    if selection.where:
        conditions.append(f"({selection.where})")
    sql = f"SELECT {', '.join(PROMPT_COLUMNS)} FROM prompts WHERE {' AND '.join(conditions)} ORDER BY prompt_id"
    if selection.limit is not None:
        sql += f" LIMIT {int(selection.limit)}"
    try:
        rows = con.execute(sql, values).fetchall()
    except duckdb.Error as error:
        raise ConfigError(f"prompts.where = {selection.where!r} does not work as an SQL predicate: {error}") from None
    prompts = []
    for row in rows:
        fields: dict[str, Any] = dict(zip(PROMPT_COLUMNS, row, strict=True))
        fields["metadata"] = json.loads(fields["metadata"]) if fields["metadata"] else {}
        fields["tests"] = json.loads(fields["tests"]) if fields["tests"] else None
        prompts.append(PromptRecord(**fields))
    return prompts


def run_progress(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, PromptProgress]:
    """Rounds stored and distinct accepted samples, per prompt the run has sampled."""
    progress: dict[str, PromptProgress] = {}
    for prompt_id, rounds in con.execute(
        "SELECT prompt_id, count(*) FROM run_rounds WHERE run_id = ? GROUP BY prompt_id", [run_id]
    ).fetchall():
        progress[prompt_id] = PromptProgress(rounds_done=int(rounds))
    for prompt_id, accepted in con.execute(
        "SELECT prompt_id, count(*) FROM outcomes WHERE run_id = ? AND accepted GROUP BY prompt_id", [run_id]
    ).fetchall():
        progress.setdefault(prompt_id, PromptProgress()).accepted = int(accepted)
    return progress


def run_totals(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int]:
    """Samples and accepted samples the store holds for a run."""
    ((samples, accepted),) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE accepted) FROM outcomes WHERE run_id = ?", [run_id]
    ).fetchall()
    return int(samples), int(accepted)


def is_finished(progress: PromptProgress, config: RunConfig) -> bool:
    """A prompt needs no more samples once it has its target or has used up its rounds."""
    return progress.accepted >= config.target_accepted or progress.rounds_done >= config.max_rounds


RUNS_OVERVIEW = """
SELECT r.run_id, r.status, r.model, r.started_at, r.finished_at,
       coalesce(g.prompts, 0) AS prompts, coalesce(g.rounds, 0) AS rounds,
       coalesce(c.samples, 0) AS samples, coalesce(c.accepted, 0) AS accepted, c.pass_rate,
       c.tokens_per_accepted
FROM runs r
LEFT JOIN (SELECT run_id, count(DISTINCT prompt_id) AS prompts, max(round) + 1 AS rounds
           FROM run_rounds GROUP BY run_id) g ON g.run_id = r.run_id
LEFT JOIN run_cost c ON c.run_id = r.run_id
"""  # the pass rate leaves out samples stopped at their prompt's target (run_cost)

ROUNDS_OF_RUN = """
SELECT round, count(*) AS prompts, sum(samples) AS samples, sum(accepted) AS accepted,
       sum(completion_tokens) AS completion_tokens, min(stored_at) AS first_stored, max(stored_at) AS last_stored
FROM run_rounds WHERE run_id = ? GROUP BY round ORDER BY round
"""

ENDPOINTS_OF_RUN = """
SELECT endpoint, requests, sequences, failures, set_aside, last_error, updated_at
FROM run_endpoints WHERE run_id = ? ORDER BY endpoint
"""
