"""Engine utilization: the generate flow against a barrier-free reference client, on a simulated GPU.

    python benchmarks/engine_utilization.py [--prompts 512] [--token-us 90] [--endpoints 4]

The simulated GPU (benchmarks/simulated_gpu.py) has 64 sequence slots and long-tailed lengths. The work is a
long-CoT run's: `samples_per_round = 4`, `target_accepted = 1`, `max_rounds = 3`, 256 sequences in flight (the
reference's 64 requests of 4, the flow's 256 requests of one). The
reference client is what a barrier-free script does: 64 workers take (prompt, round) units from a queue, and a
prompt whose round has no right answer is queued for its next round at once. Both send the same requests (same
seeds), so the simulated GPU gets the same work; the figure is the flow's busy fraction over the reference's.
Then the flow over `--endpoints` simulated GPUs, one of which stops answering a third of the way through: the
run must complete with every (prompt, round) stored once; the healthy endpoints' busy fraction is printed.
"""

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulated_gpu

from cotfactory.flows.config import RunConfig, parse_config
from cotfactory.storage import PromptRecord, query

SLOTS = 64
ACCEPT_RATE = 0.3  # per sample: about a quarter of the prompts need a second round


def problems(count: int) -> dict[str, str]:
    return {f"A shop sells {i} apples and {2 * i + 7} pears. How many fruits does it sell?": str(3 * i + 7)
            for i in range(count)}  # fmt: skip


def stats(url: str) -> dict[str, float]:
    return httpx.get(f"{url}/stats").json()


def reset(url: str, fail_after: int | None = None) -> None:
    httpx.post(f"{url}/reset", content=json.dumps({"fail_after": fail_after}))


def run_config(folder: Path, urls: list[str], prompts: dict[str, str]) -> RunConfig:
    (folder / "prompts.jsonl").write_text("".join(json.dumps({"problem": p, "answer": a}) + "\n" for p, a in
                                                  prompts.items()))  # fmt: skip
    # the flow sends a request per sample: as many in flight as the reference's 64 requests of n = 4 sequences
    sampler = {"kind": "openai", "model": "sim", "max_concurrency": 4 * SLOTS, "timeout_s": 600, "max_retries": 5,
               "backoff_base_s": 0.05, "backoff_max_s": 1.0}  # fmt: skip
    sampler |= {"base_url": urls[0]} if len(urls) == 1 else {"base_urls": urls, "endpoint_cooldown_s": 3600}
    raw = {
        "name": f"bench-{len(urls)}",
        "db": str(folder / f"store-{len(urls)}.duckdb"),
        "samples_per_round": 4,
        "target_accepted": 1,
        "max_rounds": 3,
        "prompts": {"files": [str(folder / "prompts.jsonl")], "source": "bench", "language": "en"},
        "sampler": sampler,
        "sampling": {"max_tokens": 32768, "seed": 1},
        "dedup": {"enabled": False},
    }
    return parse_config(raw, folder / "run.toml")


async def reference_client(url: str, config: RunConfig, prompts: dict[str, str]) -> None:
    """64 workers, a shared queue of (prompt, round), the next round queued as soon as a round fails."""
    queue: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
    for problem in prompts:
        queue.put_nowait((problem, 0))
    outstanding = len(prompts)
    boxed = re.compile(r"\\boxed\{([^}]*)\}")

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal outstanding
        while (item := await queue.get()) is not None:
            problem, round_index = item
            params = config.params_for_round(round_index)
            body = {"model": "sim", "messages": [{"role": "user", "content": problem + "\nBox it."}], "n": 4,
                    "max_tokens": params.max_tokens, "seed": params.seed_for(PromptRecord.create(problem,
                    source="b").prompt_id)}  # fmt: skip
            choices = (await client.post(f"{url}/chat/completions", json=body)).json()["choices"]
            solved = any(
                c["finish_reason"] == "stop" and (m := boxed.search(c["message"]["content"])) and
                m.group(1) == prompts[problem] for c in choices
            )  # fmt: skip
            if not solved and round_index + 1 < config.max_rounds:
                queue.put_nowait((problem, round_index + 1))
            else:
                outstanding -= 1
                if outstanding == 0:
                    for _ in range(SLOTS):
                        queue.put_nowait(None)

    limits = httpx.Limits(max_connections=SLOTS)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(SLOTS)))


def flow_run(config: RunConfig) -> tuple[str, float]:
    from cotfactory.flows.generate import generate

    start = time.monotonic()
    summary = generate(config)
    assert summary.status == "completed", summary.status
    return summary.run_id, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--token-us", type=float, default=90.0, help="simulated time per token, microseconds")
    parser.add_argument("--endpoints", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    prompts = problems(args.prompts)
    token_s = args.token_us / 1e6
    url, _ = simulated_gpu.start(SLOTS, token_s, prompts, ACCEPT_RATE)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = run_config(folder, [url], prompts)

        reset(url)
        start = time.monotonic()
        asyncio.run(reference_client(url, config, prompts))
        reference_s = time.monotonic() - start
        reference = stats(url)

        reset(url)
        _, flow_s = flow_run(config)
        flow = stats(url)
        print(f"prompts: {args.prompts}, {SLOTS} slots, {args.token_us:g} us/token, n=4, target 1, 3 rounds")
        print(f"reference client (no barrier): busy {reference['busy_fraction']:.1%}, {reference_s:.1f}s, "
              f"{reference['requests']:.0f} requests")  # fmt: skip
        print(f"generate flow:                 busy {flow['busy_fraction']:.1%}, {flow_s:.1f}s, "
              f"{flow['requests']:.0f} requests (target busy >= 85%)")  # fmt: skip

        if args.endpoints > 1:
            fleet = [url] + [simulated_gpu.start(SLOTS, token_s, prompts, ACCEPT_RATE)[0]
                             for _ in range(args.endpoints - 1)]  # fmt: skip
            fleet_config = run_config(folder, fleet, prompts)
            for endpoint in fleet:
                reset(endpoint)
            reset(fleet[-1], fail_after=max(1, args.prompts // (3 * args.endpoints)))
            run_id, fleet_s = flow_run(fleet_config)
            db = fleet_config.db
            ((rounds, distinct),) = query(
                "SELECT count(*), count(DISTINCT (prompt_id, round)) FROM run_rounds WHERE run_id = ?", db,
                params=[run_id]).rows()  # fmt: skip
            ((samples, stored),) = query(
                "SELECT (SELECT sum(samples) FROM run_rounds WHERE run_id = $1), "
                "(SELECT count(*) FROM outcomes WHERE run_id = $1)", db, params=[run_id]).rows()  # fmt: skip
            healthy = [stats(endpoint)["busy_fraction"] for endpoint in fleet[:-1]]
            assert rounds == distinct and samples == stored, "lost or duplicated"
            print(f"fleet of {args.endpoints}, one failing mid-run: completed in {fleet_s:.1f}s, {rounds} prompt "
                  f"rounds stored once each, {stored} samples; healthy endpoints busy "
                  f"{', '.join(f'{b:.1%}' for b in healthy)}")  # fmt: skip
    ratio = flow["busy_fraction"] / reference["busy_fraction"]
    print(f"flow vs barrier-free client, busy fraction: ratio={ratio:.2f} (target >= 0.95), "
          f"flow busy={flow['busy_fraction']:.2f} (target >= 0.85)")  # fmt: skip


if __name__ == "__main__":
    main()
