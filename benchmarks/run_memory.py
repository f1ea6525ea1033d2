"""Memory of a run as its prompts grow: nothing holds all prompts' completions.

    python benchmarks/run_memory.py [--prompts 500] [--factor 4] [--words 1500]

The generate flow runs in a process of its own (the real flow, Prefect's engine, the store, the check pool)
against the simulated GPU (benchmarks/simulated_gpu.py, fast, each completion about `--words` words), once over
`--prompts` prompts and once over `--factor` times as many; each process reports its peak resident memory
(ru_maxrss). The completions of the large run are `--factor` times the bytes of the small one's; the headline
is the ratio of the two peaks (flat memory: near 1), and how much of the added completion bytes the peak grew by.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulated_gpu
from engine_utilization import ACCEPT_RATE, SLOTS, problems

RUN_ONE = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from engine_utilization import run_config, problems
from cotfactory.flows.generate import generate
from cotfactory.storage import query
folder, url, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
from pathlib import Path
config = run_config(Path(folder), [url], problems(count))
summary = generate(config.model_copy(update={"max_rounds": 1}))
completion_bytes = int(query("SELECT sum(strlen(completion))::BIGINT FROM completions", config.db).item())
print(json.dumps({"status": summary.status, "samples": summary.samples, "completion_bytes": completion_bytes,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run(count: int, url: str, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-c", RUN_ONE, str(Path(__file__).parent), folder, url, str(count)],
            capture_output=True, text=True, env=env, timeout=3600,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the run over {count} prompts failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--words", type=int, default=1500, help="words of reasoning per completion")
    args = parser.parse_args()
    import os

    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    large = args.prompts * args.factor
    url, _ = simulated_gpu.start(SLOTS, 1e-7, problems(large), ACCEPT_RATE, words=args.words)
    with prefect_test_harness(server_startup_timeout=180):
        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        small_run, large_run = run(args.prompts, url, env), run(large, url, env)
    for name, figures in (("small", small_run), ("large", large_run)):
        mib = figures["completion_bytes"] / 2**20
        print(f"{name}: {figures['samples']:,} samples, {mib:,.1f} MiB of completions, "
              f"peak RSS {figures['peak_rss'] / 2**20:,.0f} MiB ({figures['status']})")  # fmt: skip
    added = large_run["completion_bytes"] - small_run["completion_bytes"]
    grown = large_run["peak_rss"] - small_run["peak_rss"]
    ratio = large_run["peak_rss"] / small_run["peak_rss"]
    print(
        f"run memory, {args.factor}x the prompts: ratio={ratio:.2f} (target <= 1.15; peak RSS large / small), "
        f"peak grew by {grown / added:.0%} of the added completion bytes ({added / 2**20:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
