"""A run's funnel, read from the `funnel` view: what `status`, the report, the run's Prefect artifact and its
end-of-run table all show."""

from dataclasses import asdict, dataclass

import duckdb
import polars as pl

_FUNNEL_OF_RUN = """
SELECT check_name, reason, samples, share, generated_tokens FROM funnel WHERE run_id = ?
ORDER BY reason = 'accepted' DESC, samples DESC, check_name, reason
"""


@dataclass(frozen=True)
class FunnelRow:
    """One outcome of a run's samples: accepted, or the first failing check and its reason, with the tokens its
    samples generated (None when none of them has a count)."""

    check_name: str
    reason: str
    samples: int
    share: float
    generated_tokens: int | None = None


def run_funnel(con: duckdb.DuckDBPyConnection, run_id: str) -> list[FunnelRow]:
    """Per outcome (accepted, or the first failing check and reason): samples, share and tokens, accepted first."""
    rows = con.execute(_FUNNEL_OF_RUN, [run_id]).fetchall()
    return [FunnelRow(str(c), str(r), int(n), float(s), None if t is None else int(t)) for c, r, n, s, t in rows]


def funnel_frame(funnel: list[FunnelRow]) -> pl.DataFrame:
    """The funnel as a table (columns check_name, reason, samples, share, generated_tokens), for terminals and
    files."""
    schema = {
        "check_name": pl.String,
        "reason": pl.String,
        "samples": pl.Int64,
        "share": pl.Float64,
        "generated_tokens": pl.Int64,
    }
    return pl.DataFrame([asdict(row) for row in funnel], schema=schema)
