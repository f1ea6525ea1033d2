"""Merging a shard's store into a run's store: time per 10k samples and the time and peak memory of merging one
100k-sample shard, dedup across shards included (the accepted half go through the chain's dedup step again).

The baseline is a bare `INSERT INTO ... SELECT` of the same completions and outcomes from the attached shard,
with no dedup and no bookkeeping, timed on the same files. Wall time of 1, 2 and 4 shards on process workers is
not measured here (the pool test runs them; timing it on 2 shared cores says little).

    python benchmarks/shards.py [--samples 100000] [--text-bytes 1000]
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIME_TARGET_S = 120.0  # one 100k-sample shard, 2 cores
MEMORY_TARGET_MB = 2048.0
WORDS = ["let", "x", "be", "the", "number", "so", "that", "sum", "of", "roots", "wait", "check", "again", "hence",
         "answer", "follows", "because", "we", "need", "b", "over", "a", "therefore"]  # fmt: skip


def trace(rng: random.Random, size: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(size // 5))[:size]


def config_for(folder: Path) -> Path:
    (folder / "traces.jsonl").write_text("")
    path = folder / "run.toml"
    path.write_text(
        'name = "bench"\ndb = "run.duckdb"\nchecks = ["think_format"]\n'
        '[sampler]\nkind = "replay"\npaths = ["traces.jsonl"]\n[cluster]\nshards = 1\nshard_dir = "shards"\n'
    )
    return path


def build_shard(config_path: Path, samples: int, text_bytes: int) -> None:
    """A shard store of `samples` samples of distinct prompts, half accepted, with their verdicts and rounds."""
    from cotfactory.flows.config import load_config
    from cotfactory.flows.shards import shard_ref
    from cotfactory.storage import PromptRecord, RoundRecord, SampleRecord, Store, VerdictRecord

    config = load_config(config_path)
    ref = shard_ref(config, 0, 1)
    ref.store.parent.mkdir(parents=True, exist_ok=True)
    store, rng = Store(ref.store), random.Random(1)
    for start in range(0, samples, 5000):
        prompts = [
            PromptRecord.create(f"Problem {i}: what is {i} + {i}?", source="b") for i in range(start, start + 5000)
        ]
        store.add_prompts(prompts)
        rows, verdicts, rounds = [], [], []
        for index, prompt in enumerate(prompts):
            accepted = index % 2 == 0
            sample = SampleRecord.create(
                prompt_id=prompt.prompt_id, model="replay", completion=trace(rng, text_bytes) + "</think>\\boxed{1}",
                run_id=ref.run_id, round=0, sample_index=0, accepted=accepted,
                reject_check=None if accepted else "think_format",
                reject_reason=None if accepted else "unclosed_think",
            )  # fmt: skip
            rows.append(sample)
            verdicts.append(VerdictRecord(run_id=ref.run_id, sample_id=sample.sample_id, check_name="think_format",
                                          passed=accepted, reason=None if accepted else "unclosed_think"))  # fmt: skip
            verdicts.append(
                VerdictRecord(run_id=ref.run_id, sample_id=sample.sample_id, check_name="dedup", passed=True)
            )
            rounds.append(RoundRecord(run_id=ref.run_id, prompt_id=prompt.prompt_id, round=0, samples=0, accepted=0))
        store.write_batch(rows, verdicts, rounds)


def merge(config_path: Path) -> None:
    """Run in a child process, so that its peak memory is the merge's alone."""
    from cotfactory.flows.config import load_config
    from cotfactory.flows.shards import merge_shards, shard_ref
    from cotfactory.storage import Store

    config = load_config(config_path)
    Store(config.db).migrate()
    start = time.perf_counter()
    (merged,) = merge_shards(config, [shard_ref(config, 0, 1)])
    print(json.dumps({"seconds": time.perf_counter() - start, "new": merged.new_samples}))


def bare_insert(config_path: Path) -> float:
    import duckdb

    from cotfactory.flows.config import load_config
    from cotfactory.flows.shards import shard_ref

    config = load_config(config_path)
    con = duckdb.connect(str(config_path.parent / "bare.duckdb"))
    con.execute(f"ATTACH '{shard_ref(config, 0, 1).store}' AS shard (READ_ONLY)")
    con.execute("CREATE TABLE completions AS SELECT * FROM shard.completions LIMIT 0")
    con.execute("CREATE TABLE outcomes AS SELECT * FROM shard.outcomes LIMIT 0")
    start = time.perf_counter()
    con.execute("BEGIN; INSERT INTO completions SELECT * FROM shard.completions; "
                "INSERT INTO outcomes SELECT * FROM shard.outcomes; COMMIT")  # fmt: skip
    seconds = time.perf_counter() - start
    con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--text-bytes", type=int, default=1000)
    parser.add_argument("--merge", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.merge:
        merge(args.merge)
        return
    with tempfile.TemporaryDirectory() as tmp:
        config_path = config_for(Path(tmp))
        start = time.perf_counter()
        build_shard(config_path, args.samples, args.text_bytes)
        print(f"built a {args.samples:,}-sample shard in {time.perf_counter() - start:.1f} s")
        done = subprocess.run([sys.executable, __file__, "--merge", str(config_path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        bare = bare_insert(config_path)
    seconds = result["seconds"]
    print(f"merge of {result['new']:,} samples: {seconds:.1f} s ({seconds / args.samples * 10_000:.2f} s per 10k), "
          f"peak memory {peak_mb:.0f} MB; bare INSERT ... SELECT of the same rows: {bare:.1f} s")  # fmt: skip
    print(
        f"100k-sample shard merge vs {TIME_TARGET_S:.0f} s: ratio={seconds / TIME_TARGET_S:.2f} (target <= 1.00), "
        f"peak memory vs {MEMORY_TARGET_MB:.0f} MB: ratio={peak_mb / MEMORY_TARGET_MB:.2f} (target <= 1.00)"
    )


if __name__ == "__main__":
    main()
