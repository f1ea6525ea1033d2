"""Peak memory of curating 200,000 stored samples into a set and exporting it.

    python benchmarks/curate_memory.py [--samples 200000] [--size 8000]

The store is filled first (4 samples of about 8 KB per prompt, three quarters accepted). Then a child process
runs `cotfactory curate` (per-prompt cap, pass-rate range, near-duplicate removal, which reads every
candidate's completion) and `cotfactory export` of the set, and its peak resident memory is read back.
The baseline is the same child process doing nothing but importing cotfactory and opening the store.
Target: peak under 2 GB.
"""

import argparse
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from cotfactory.storage import JudgedSample, PromptRecord, RunRecord, Store
from cotfactory.storage.store import write_batch

CHILD = """
import sys
from pathlib import Path
from cotfactory.flows.curate import CurateSpec, curate
from cotfactory.storage import Store
from cotfactory.storage.export import export_samples
db, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
store = Store(db)
if mode == "work":
    spec = CurateSpec(per_prompt=2, pass_rate=(0.0, 1.0), prefer="shortest", no_near_dups=True)
    report = curate(store, "bench", spec)
    manifest = export_samples(db, out, set_ref=f"bench@{report.record.version}")
    print("RESULT", report.record.row_count, manifest["rows"], manifest["bytes"])
else:
    store.migrate()
"""


def fill(store: Store, samples: int, size: int) -> None:
    rng = random.Random(0)
    words = [
        "we",
        "compute",
        "the",
        "sum",
        "of",
        "roots",
        "check",
        "again",
        "so",
        "the",
        "answer",
        "follows",
        "because",
        "hence",
        "value",
    ]
    store.start_run(RunRecord(run_id="bench", model="m"))
    per_prompt = 4
    for start in range(0, samples // per_prompt, 500):
        prompts, rows = [], []
        for index in range(start, min(start + 500, samples // per_prompt)):
            prompt = PromptRecord.create(f"Problem {index}: compute {index} + {index}.", source="bench")
            prompts.append(prompt)
            for sample_index in range(per_prompt):
                text = " ".join(rng.choice(words) + str(rng.randint(0, 99)) for _ in range(size // 9))
                rows.append(
                    JudgedSample.create(
                        prompt_id=prompt.prompt_id,
                        model="m",
                        completion=text,
                        run_id="bench",
                        sample_index=sample_index,
                        completion_tokens=len(text) // 4,
                        accepted=sample_index < 3,
                    )
                )
        store.add_prompts(prompts)
        with store.transaction() as con:  # bulk seeding: not a run's memory-capped commit
            write_batch(con, rows)


def child_peak_mb(db: Path, out: Path, mode: str) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run([sys.executable, "-c", CHILD, str(db), str(out), mode], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak, before) / 1024, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--db", type=Path, help="Reuse a store an earlier run of this script filled")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    db = args.db or folder / "curate.duckdb"
    if args.db is None:
        fill(Store(db), args.samples, args.size)
    print(f"{args.samples:,} samples of about {args.size:,} characters stored ({db.stat().st_size / 1e9:.2f} GB)")
    baseline, _ = child_peak_mb(db, folder / "unused", "idle")
    peak, output = child_peak_mb(db, folder / "export", "work")
    result = next(line for line in output.splitlines() if line.startswith("RESULT"))
    rows, exported, size = (int(x) for x in result.split()[1:])
    print(f"curated {rows:,} samples, exported {exported:,} rows ({size / 1e9:.2f} GB)")
    print(f"peak memory: {peak:,.0f} MB (importing cotfactory and opening the store: {baseline:,.0f} MB)")
    print(f"curate+export peak vs 2 GB budget: ratio={peak / 2048:.2f} (target <= 1.00), peak={peak:.0f} MB")


if __name__ == "__main__":
    main()
