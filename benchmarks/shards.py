"""Sharded runs. (1) Wall time of the same run on 1, 2 and 4 shards: `cotfactory run --shards K --work-pool`
on a real Prefect server with two process workers, against one simulated server (fixed latency per request,
bounded concurrency per shard), so that more shards mean more requests in flight. (2) Merging a shard's store:
time per 10k samples and the time and peak memory of merging one 100k-sample shard, dedup across shards
included (its accepted half go through the chain's dedup step again). The merge's baseline is a bare
`INSERT INTO ... SELECT` of the same completions and outcomes, no dedup and no bookkeeping, on the same files.

    python benchmarks/shards.py [--samples 100000] [--text-bytes 1000] [--prompts 64] [--skip-pool]
"""

import argparse
import json
import random
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
    from cotfactory.storage import JudgedSample, PromptRecord, RoundRecord, Store, VerdictRecord
    from cotfactory.storage.shard_records import mark_shard_store
    from cotfactory.storage.store import write_batch

    config = load_config(config_path)
    ref = shard_ref(config, 0, 1)
    ref.store.parent.mkdir(parents=True, exist_ok=True)
    store, rng = Store(ref.store), random.Random(1)
    with store.transaction() as con:
        mark_shard_store(con, ref)
    for start in range(0, samples, 5000):
        prompts = [
            PromptRecord.create(f"Problem {i}: what is {i} + {i}?", source="b") for i in range(start, start + 5000)
        ]
        store.add_prompts(prompts)
        rows, verdicts, rounds = [], [], []
        for index, prompt in enumerate(prompts):
            accepted = index % 2 == 0
            sample = JudgedSample.create(
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
        with store.transaction() as con:
            write_batch(con, rows, verdicts, rounds)


def merge(config_path: Path) -> None:
    """Run in a child process, so that its peak memory is the merge's alone."""
    from cotfactory.flows.config import load_config
    from cotfactory.flows.shards import merge_shards, shard_ref
    from cotfactory.storage import Store

    config = load_config(config_path)
    Store(config.db).migrate()
    start = time.perf_counter()
    (merged,) = merge_shards(config, [shard_ref(config, 0, 1)])
    # the child's own peak (VmHWM): Linux keeps ru_maxrss across exec, so it would count the parent's pages the
    # child held between fork and exec (here, the shard just built)
    status = Path("/proc/self/status").read_text()
    peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(json.dumps({"seconds": time.perf_counter() - start, "new": merged.new_samples, "peak_mb": peak_mb}))


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


def pool_wall_times(folder: Path, prompts: int, latency_s: float) -> dict[int, float]:
    """Seconds of `cotfactory run --shards K` for K in 1, 2, 4: each a new run of the same prompts."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from openai_server import OpenAIServer
    from prefect_pool import local_pool

    (folder / "prompts.jsonl").write_text(
        "".join(json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n" for i in range(prompts))
    )
    cotfactory = str(Path(sys.executable).parent / "cotfactory")
    walls = {}
    with OpenAIServer() as server, local_pool(folder, "bench") as pool:
        server.latency_s = latency_s
        for shards in (1, 2, 4):
            config = folder / f"run-{shards}.toml"
            config.write_text(
                f'name = "bench-{shards}"\ndb = "run-{shards}.duckdb"\nsamples_per_round = 4\n'
                'checks = ["think_format", "non_empty"]\n'
                '[prompts]\nfiles = ["prompts.jsonl"]\nsource = "sums"\nlanguage = "en"\n'
                f'[sampler]\nkind = "openai"\nbase_url = "{server.url}"\nmodel = "m"\nmax_concurrency = 2\n'
                "[checking]\nworkers = 1\n"
            )
            start = time.perf_counter()
            done = subprocess.run([cotfactory, "run", str(config), "--shards", str(shards), "--work-pool", "bench"],
                                  env=pool.env, capture_output=True, text=True, timeout=900)  # fmt: skip
            walls[shards] = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            print(f"{shards} shard(s): {walls[shards]:.1f} s for {prompts * 4} samples")
    return walls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--text-bytes", type=int, default=1000)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--latency-s", type=float, default=1.0)
    parser.add_argument("--skip-pool", action="store_true")
    parser.add_argument("--merge", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.merge:
        merge(args.merge)
        return
    walls = {}
    if not args.skip_pool:
        with tempfile.TemporaryDirectory() as tmp:
            walls = pool_wall_times(Path(tmp), args.prompts, args.latency_s)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = config_for(Path(tmp))
        start = time.perf_counter()
        build_shard(config_path, args.samples, args.text_bytes)
        print(f"built a {args.samples:,}-sample shard in {time.perf_counter() - start:.1f} s")
        done = subprocess.run([sys.executable, __file__, "--merge", str(config_path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
        peak_mb = result["peak_mb"]
        bare = bare_insert(config_path)
    seconds = result["seconds"]
    print(f"merge of {result['new']:,} samples: {seconds:.1f} s ({seconds / args.samples * 10_000:.2f} s per 10k), "
          f"peak memory {peak_mb:.0f} MB; bare INSERT ... SELECT of the same rows: {bare:.1f} s")  # fmt: skip
    scaling = f"1 vs 4 shards wall: ratio={walls[1] / walls[4]:.2f} (target: report; 4.00 at most); " if walls else ""
    print(
        f"{scaling}{args.samples // 1000}k-sample shard merge vs {TIME_TARGET_S:.0f} s: "
        f"ratio={seconds / TIME_TARGET_S:.2f} (target <= 1.00), "
        f"peak memory vs {MEMORY_TARGET_MB:.0f} MB: ratio={peak_mb / MEMORY_TARGET_MB:.2f} (target <= 1.00)"
    )


if __name__ == "__main__":
    main()
