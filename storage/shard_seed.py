"""A shard's store seeded from its run's store: what the run already holds for the shard's prompts (their rounds,
samples, outcomes and verdicts, stored by a one-process run of the same config or by shards of another count),
so that the shard resumes from there rather than sampling those rounds again."""

from collections.abc import Sequence

import duckdb
import pyarrow as pa

# The run's store is attached as `run`; rows are copied with anti-joins (long texts: see shard_merge.py).
_SEED = (
    """INSERT INTO completions BY NAME SELECT c.* FROM run.completions c
    WHERE c.sample_id IN (SELECT o.sample_id FROM run.outcomes o JOIN _seeded USING (prompt_id) WHERE o.run_id = $run)
      AND NOT EXISTS (SELECT 1 FROM completions k WHERE k.sample_id = c.sample_id)""",
    """INSERT INTO outcomes BY NAME SELECT o.* FROM run.outcomes o JOIN _seeded USING (prompt_id)
    WHERE o.run_id = $run
      AND NOT EXISTS (SELECT 1 FROM outcomes k WHERE k.run_id = o.run_id AND k.sample_id = o.sample_id)""",
    """INSERT INTO verdicts BY NAME SELECT v.* FROM run.verdicts v
    WHERE v.run_id = $run AND v.sample_id IN (SELECT o.sample_id FROM run.outcomes o JOIN _seeded USING (prompt_id)
                                              WHERE o.run_id = $run)
      AND NOT EXISTS (SELECT 1 FROM verdicts k WHERE k.run_id = v.run_id AND k.sample_id = v.sample_id
                      AND k.check_name = v.check_name)""",
    """INSERT INTO run_rounds BY NAME SELECT r.* FROM run.run_rounds r JOIN _seeded USING (prompt_id)
    WHERE r.run_id = $run ON CONFLICT DO NOTHING""",
)


def seed_progress(con: duckdb.DuckDBPyConnection, run_id: str, prompt_ids: Sequence[str]) -> int:
    """Copy the run's rows for these prompts from the attached run store into this shard's store (rows it holds
    already are kept); returns the rounds the shard store holds for them afterwards."""
    con.register("_seeded", pa.table({"prompt_id": list(prompt_ids)}))
    try:
        for sql in _SEED:
            con.execute(sql, {"run": run_id})
        ((rounds,),) = con.execute(
            "SELECT count(*) FROM run_rounds JOIN _seeded USING (prompt_id) WHERE run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.unregister("_seeded")
    return int(rounds)
