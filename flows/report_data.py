"""The numbers behind a run's or a set's report, each computed by one SQL query over the store: the funnel,
prompt difficulty, completion length by outcome, throughput over time, language shares, and a few rejected
samples of each reason with the verdict that rejected them. Histograms are counted in DuckDB, so a report of
a 600k-sample run holds bins, not samples."""

from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.funnel import run_funnel
from cotfactory.storage.run_cost import RunCost, run_cost
from cotfactory.storage.set_refs import resolve_set

EXAMPLES_PER_REASON = 3
_EXAMPLE_CHARS = 6000


class ReportError(CotfactoryError):
    """The report cannot be made as asked (no such run or set)."""


@dataclass(frozen=True)
class Scope:
    """The samples a report is about: an SQL predicate over outcomes `o` and its parameters."""

    title: str
    predicate: str
    params: list[Any]
    run_id: str | None = None


@dataclass
class ReportData:
    """Everything a report shows; each chart's numbers under its name in `charts`."""

    title: str
    scope: Scope
    summary: dict[str, Any]
    charts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    cost: RunCost | None = None  # a run's; a set's samples come from runs that generated more than them


def _scope(con: duckdb.DuckDBPyConnection, run_id: str | None, set_ref: str | None) -> Scope:
    """A run's outcomes, or a set's members as judged by the runs that kept them."""
    if (run_id is None) == (set_ref is None):
        raise ReportError("report needs exactly one of RUN_ID or --set NAME[@VERSION]")
    if run_id is not None:
        if not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
            raise ReportError(f"no run with id {run_id!r}; `cotfactory status` lists the runs")
        return Scope(f"run {run_id}", "o.run_id = ?", [run_id], run_id)
    chosen = resolve_set(con, set_ref or "")
    members, params = chosen.members("o.sample_id")
    return Scope(f"set {chosen.ref}", f"({members} AND o.accepted)", params)


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _outcome(alias: str = "o") -> str:
    return f"CASE WHEN {alias}.accepted THEN 'accepted' ELSE coalesce({alias}.reject_check, 'unknown') END"


def report_data(
    con: duckdb.DuckDBPyConnection, *, run_id: str | None = None, set_ref: str | None = None
) -> ReportData:
    """The report of run `run_id` or set `set_ref` (NAME or NAME@VERSION), read from `con`."""
    scope = _scope(con, run_id, set_ref)
    summary = _records(
        con,
        f"""SELECT count(*) AS samples, count(*) FILTER (WHERE o.accepted) AS accepted,
                   count(*) FILTER (WHERE NOT o.accepted AND o.reject_check = 'target_met') AS target_met,
                   count(DISTINCT o.prompt_id) AS prompts, count(DISTINCT o.run_id) AS runs,
                   coalesce(sum(c.completion_tokens), 0)::BIGINT AS completion_tokens
            FROM outcomes o JOIN completions c USING (sample_id) WHERE {scope.predicate}""",
        scope.params,
    )[0]
    data = ReportData(scope.title, scope, summary)
    if scope.run_id is not None:
        data.charts["funnel"] = [asdict(row) for row in run_funnel(con, scope.run_id)]
        data.cost = run_cost(con, scope.run_id)
    else:  # a set holds samples its runs accepted, and nothing else
        accepted = [{"check_name": "accepted", "reason": "accepted", "samples": summary["accepted"], "share": 1.0,
                     "generated_tokens": summary["completion_tokens"]}]  # fmt: skip
        data.charts["funnel"] = accepted if summary["accepted"] else []
    # difficulty: each prompt's pass rate over its samples in scope (those stopped at the prompt's target left
    # out), in ten bins (1.0 in the last)
    data.charts["difficulty"] = _records(
        con,
        f"""WITH rates AS (SELECT o.prompt_id, avg(o.accepted::INT) AS pass_rate FROM outcomes o
                           WHERE {scope.predicate} AND o.reject_check IS DISTINCT FROM 'target_met'
                           GROUP BY o.prompt_id)
            SELECT least(floor(pass_rate * 10), 9)::INT AS bin, count(*) AS prompts FROM rates GROUP BY bin
            ORDER BY bin""",
        scope.params,
    )
    data.charts["length"] = _records(
        con,
        f"""WITH lengths AS (
                SELECT {_outcome()} AS outcome, coalesce(c.completion_tokens, length(c.completion)) AS length
                FROM outcomes o JOIN completions c USING (sample_id) WHERE {scope.predicate})
            SELECT outcome, count(*) AS samples, median(length)::DOUBLE AS median_length,
                   min(length) AS min_length, max(length) AS max_length
            FROM lengths GROUP BY outcome ORDER BY samples DESC, outcome""",
        scope.params,
    )
    data.charts["length_bins"] = _records(
        con,
        f"""WITH lengths AS (
                SELECT {_outcome()} AS outcome, coalesce(c.completion_tokens, length(c.completion)) AS length
                FROM outcomes o JOIN completions c USING (sample_id) WHERE {scope.predicate}),
            bounds AS (SELECT greatest(max(length), 1) AS top FROM lengths)
            SELECT outcome, least(floor(length * 20.0 / top), 19)::INT AS bin, any_value(top) AS top,
                   count(*) AS samples
            FROM lengths, bounds GROUP BY outcome, bin ORDER BY outcome, bin""",
        scope.params,
    )
    # throughput: samples judged and tokens generated in 30 equal spans of the judgement times (1 s at least)
    data.charts["throughput"] = _records(
        con,
        f"""WITH judged AS (
                SELECT epoch(o.judged_at) AS judged_s, coalesce(c.completion_tokens, 0) AS tokens
                FROM outcomes o JOIN completions c USING (sample_id) WHERE {scope.predicate}),
            span AS (SELECT min(judged_s) AS start, greatest((max(judged_s) - min(judged_s)) / 30, 1) AS width
                     FROM judged)
            SELECT least(floor((judged_s - start) / width), 29)::INT AS bin, any_value(width)::DOUBLE AS seconds,
                   count(*) AS samples, sum(tokens)::BIGINT AS completion_tokens
            FROM judged, span GROUP BY bin ORDER BY bin""",
        scope.params,
    )
    # language: the target-language share of each judged reasoning (the language check's score), in ten bins
    data.charts["language"] = _records(
        con,
        f"""SELECT coalesce(p.target_language, 'en') AS language, least(floor(v.score * 10), 9)::INT AS bin,
                   count(*) AS samples, count(*) FILTER (WHERE v.passed) AS passed
            FROM outcomes o JOIN verdicts v ON v.run_id = o.run_id AND v.sample_id = o.sample_id
            JOIN prompts p ON p.prompt_id = o.prompt_id
            WHERE {scope.predicate} AND v.check_name = 'language' AND v.score IS NOT NULL
            GROUP BY 1, 2 ORDER BY 1, 2""",
        scope.params,
    )
    data.examples = _records(
        con,
        f"""WITH rejected AS (
                SELECT o.run_id, o.sample_id, o.reject_check, o.reject_reason,
                       row_number() OVER (PARTITION BY o.reject_check, o.reject_reason ORDER BY o.sample_id) AS rank
                FROM outcomes o WHERE {scope.predicate} AND NOT o.accepted)
            SELECT r.reject_check AS check_name, r.reject_reason AS reason, r.sample_id, p.problem, p.reference,
                   left(c.reasoning, {_EXAMPLE_CHARS}) AS reasoning, right(c.answer, 2000) AS answer,
                   right(c.completion, {_EXAMPLE_CHARS}) AS completion, v.detail, v.score
            FROM rejected r JOIN completions c USING (sample_id) JOIN prompts p USING (prompt_id)
            LEFT JOIN verdicts v ON v.run_id = r.run_id AND v.sample_id = r.sample_id
                                 AND v.check_name = r.reject_check
            WHERE r.rank <= {EXAMPLES_PER_REASON} ORDER BY 1, 2, 3""",
        scope.params,
    )
    return data
