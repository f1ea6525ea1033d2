"""Store throughput: batch writes of 8 KB samples vs a bare DuckDB insert, export vs polars write_ndjson.

    python benchmarks/store.py [--batches 20] [--batch-size 1000]

Both baselines run in the same process on the same rows. The write baseline is `INSERT INTO ... SELECT FROM
arrow_table` on one long-lived connection with rows already in Arrow form; the store builds Arrow from pydantic
records and opens, commits and closes the file for every batch (so readers get in between). The export baseline
is polars reading the same rows from the same store (`con.sql(...).pl()`) and `write_ndjson` of them in the
same chat shape; the export also streams in batches, splits shards and checksums them. The in-memory polars
write is printed for reference: reading 8 KB strings out of DuckDB alone is slower than that write.
"""

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from cotfactory.storage import JudgedSample, PromptRecord, RunRecord, Store, VerdictRecord, open_read_only
from cotfactory.storage.export import export_samples
from cotfactory.storage.migrations import migrate
from cotfactory.storage.store import records_to_arrow, write_batch

TRACE_BYTES = 8000
BASELINE_SQL = """
SELECT s.sample_id, p.problem,
       '<think>' || chr(10) || s.reasoning || chr(10) || '</think>' || chr(10) || chr(10) || s.answer AS assistant
FROM samples s JOIN prompts p ON p.prompt_id = s.prompt_id ORDER BY s.sample_id
"""


def make_texts(count: int, size: int, seed: int) -> list[str]:
    """Distinct pseudo-traces: random words from a 5,000-word vocabulary (compressible like real text)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = np.array(["".join(rng.choice(letters, size=rng.integers(2, 10))) for _ in range(5000)])
    words = vocab[rng.integers(0, len(vocab), size=(count, size // 5))]
    return [" ".join(row)[:size] for row in words]


Batch = tuple[list[JudgedSample], list[VerdictRecord]]


def make_batches(batches: int, size: int) -> tuple[list[PromptRecord], list[Batch]]:
    """Prompts and batches of accepted 8 KB samples, two verdicts each."""
    rows = range(batches * size)
    prompts = [PromptRecord.create(f"Problem {i}: compute {i} squared.", source="bench") for i in rows]
    texts = make_texts(batches * size, TRACE_BYTES, seed=0)
    out = []
    for number in range(batches):
        samples, verdicts = [], []
        for index in range(size):
            row = number * size + index
            reasoning = texts[row]
            sample = JudgedSample.create(
                prompt_id=prompts[row].prompt_id,
                model="bench",
                completion=reasoning + "</think>\n\nThe answer is \\boxed{4}.",
                run_id="bench",
                reasoning=reasoning,
                answer="The answer is \\boxed{4}.",
                finish_reason="stop",
                completion_tokens=TRACE_BYTES // 4,
                accepted=True,
            )
            samples.append(sample)
            verdicts += [
                VerdictRecord(run_id="bench", sample_id=sample.sample_id, check_name="format", passed=True, score=0.0),
                VerdictRecord(run_id="bench", sample_id=sample.sample_id, check_name="math", passed=True),
            ]
        out.append((samples, verdicts))
    return prompts, out


def bare_insert(path: Path, arrow_batches: list, settings: list[str]) -> float:
    con = duckdb.connect(str(path))
    migrate(con, str(path))
    for setting in settings:
        con.execute(setting)
    start = time.perf_counter()
    for completions, outcomes, verdicts in arrow_batches:
        con.register("c", completions)
        con.register("o", outcomes)
        con.register("v", verdicts)
        con.execute("INSERT INTO completions SELECT * FROM c")
        con.execute("INSERT INTO outcomes SELECT * FROM o")
        con.execute("INSERT INTO verdicts SELECT * FROM v")
    con.close()
    return time.perf_counter() - start


def store_writes(path: Path, batches: list) -> float:
    store = Store(path)
    store.migrate()
    start = time.perf_counter()
    for samples, verdicts in batches:
        # as a run commits: one memory-capped transaction per batch, checkpoints left to DuckDB
        with store.transaction(checkpoint_on_close=False, memory_capped=True) as con:
            write_batch(con, samples, verdicts)
    with store.transaction():  # closed with a checkpoint: the WAL folded into the file
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    rows = args.batches * args.batch_size
    prompts, batches = make_batches(args.batches, args.batch_size)
    # The same rows as the store writes them: a completion, the run's outcome of it, its verdicts.
    arrow_batches = [
        (
            records_to_arrow([sample.completion for sample in s]),
            records_to_arrow([sample.outcome for sample in s]),
            records_to_arrow(v),
        )
        for s, v in batches
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tuned = ["SET disabled_compression_methods = 'dict_fsst'"]
        bare_default = bare_insert(work / "bare_default.duckdb", arrow_batches, [])
        bare = bare_insert(work / "bare.duckdb", arrow_batches, tuned)
        ours = store_writes(work / "store.duckdb", batches)
        print(
            f"rows: {rows:,} samples of {TRACE_BYTES:,} B (completion + outcome) + {2 * rows:,} verdicts "
            f"in {args.batches} batches"
        )
        print(f"bare INSERT, DuckDB defaults:            {rows / bare_default:10,.0f} samples/s")
        print(f"bare INSERT, the store's settings:       {rows / bare:10,.0f} samples/s")
        print(f"write_batch (open/commit/close):         {rows / ours:10,.0f} samples/s")
        write_ratio = bare / ours

        store = Store(work / "store.duckdb")
        store.add_prompts(prompts)
        store.start_run(RunRecord(run_id="bench", model="bench"))
        store.add_set("bench", {"all": True}, [s.sample_id for samples, _ in batches for s in samples])
        start = time.perf_counter()
        manifest = export_samples(work / "store.duckdb", work / "export", set_ref="bench@1")
        ours_export = time.perf_counter() - start
        assert manifest["rows"] == rows

        messages = pl.concat_list(
            [
                pl.struct(role=pl.lit("user"), content="problem"),
                pl.struct(role=pl.lit("assistant"), content="assistant"),
            ]
        )
        # Baseline: the one-liner a user would write, reading the same rows from the same store.
        start = time.perf_counter()
        with open_read_only(work / "store.duckdb") as con:
            frame = con.sql(BASELINE_SQL).pl()
        frame.select(messages=messages, id="sample_id").write_ndjson(work / "polars.jsonl")
        polars_export = time.perf_counter() - start
        # For reference: the same write with the rows already in memory (no database read at all).
        in_memory = frame.select(messages=messages, id="sample_id")
        start = time.perf_counter()
        in_memory.write_ndjson(work / "polars_memory.jsonl")
        memory_export = time.perf_counter() - start
        print(f"polars write_ndjson, rows in memory:     {rows / memory_export:10,.0f} rows/s")
        print(f"polars read from store + write_ndjson:   {rows / polars_export:10,.0f} rows/s")
        print(f"export_samples (store -> shards+manifest): {rows / ours_export:10,.0f} rows/s")
        export_ratio = polars_export / ours_export
    print(
        f"store writes vs bare insert: ratio={write_ratio:.2f} (target >= 0.7); "
        f"export vs polars write_ndjson: ratio={export_ratio:.2f} (target >= 0.5)"
    )


if __name__ == "__main__":
    main()
