"""The schema's history: each migration of the store, in order. A file records which ones it has applied
(`storage/migrations.py` applies the rest); a migration once released is never edited, only followed."""

from dataclasses import dataclass

from cotfactory.storage import schema_sql_first as first
from cotfactory.storage import schema_sql_outcomes as outcomes


@dataclass(frozen=True)
class Migration:
    """One step of the schema; `version` is its position, starting at 1."""

    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "prompts, runs, samples, verdicts, sets", first.V1),
    Migration(2, "quarantine for malformed input lines", first.V2),
    Migration(3, "views accepted, funnel, prompt_stats", first.V3),
    Migration(4, "verdict details, run configs, per prompt and round progress of runs", first.V4),
    Migration(5, "near-duplicate index: MinHash signatures and LSH band keys of kept samples", first.V5),
    Migration(6, "benchmarks registered for decontamination, as word n-gram sets", first.V6),
    Migration(7, "code problems: the tests a program must pass", first.V7),
    Migration(
        8, "runs own their outcomes: completions stored once, each run's outcome and verdicts per sample", outcomes.V8
    ),
    Migration(9, "per-endpoint counts of a run's sampler", outcomes.V9),
    Migration(
        10,
        "shards of a sharded run: each shard's store, flow run, state and counts, and when it was merged",
        outcomes.V10,
    ),
    Migration(
        11,
        "a run's cost: view run_cost (tokens per accepted trace, aborts), tokens per outcome in funnel, "
        "target_met samples out of prompt_stats' pass rate",
        outcomes.V11,
    ),
)
