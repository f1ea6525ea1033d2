"""Cost: GPU tokens per accepted trace, the generate flow vs a round-based client, on a simulated R1-distill server.

    python benchmarks/cost.py [--prompts 400] [--n 4] [--max-tokens 16384] [--loop-share 0.06] [--slip-share 0.10]
                              [--concurrency 256] [--token-us 10000] [--stream-interval 1]

The server (benchmarks/cost_server.py) loops and slips as R1-distill samplers do: 6% of samples repeat one
paragraph to max_tokens, 10% go on in Chinese from a random point of their reasoning, the rest end with an
answer that is right 60% of the time. Lengths are log-normal with R1's shape at half its scale (tokens are the
server's own units, a word with the space after it): median max_tokens x 4,000 / 32,768 = 2,000 tokens for the
default max_tokens of 16,384 (R1: about 4,000 and 32,768). It streams as vLLM does by default (every token an
event, `--stream-interval 1`) at 100 tokens/s a sequence (`--token-us 10000`; a GPU decodes 20-100), 256
sequences at once, so the benchmark takes about 6 minutes on 2 cores.
The reference is what a round-based script does: every prompt's request with `n` samples, whole responses, no
loop detection, a barrier per round, then the run's own chain judges the round. The run is `cotfactory-generate`
with the `openai` sampler and its defaults (loop detection in the engine, and whatever its sampler aborts). Both
send the same seeds, so they get the same samples; `target_accepted = n`, so every sample is wanted and the
run saves only what is doomed. Tokens are the server's own count of every generated token (aborted ones too).
At this scale loops stopped in the engine alone give a ratio of about 1.3, and a client that never generated a
token of a looping or slipping sample (the oracle, printed as the ceiling) about 1.55. Also printed: the
store's own figure against the server's count, every accepted sample of the run re-checked through the
chain on its full text (the sample as the server would have finished it), and the floor: what the run would
cost if each sample stopped at the very token at which the run's own watches doom it (no stream latency), the
most this chain's prefix-monotone checks can save on this server. Coarser streams (`--stream-interval 8-32`)
or a faster server than the client reads (`--token-us 200`) show what stream latency costs.
"""

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost_server
from cost_text import Profile, generate, problems

from cotfactory.filters.prefix import PromptContext
from cotfactory.flows.check_traces import check_traces
from cotfactory.flows.config import RunConfig, parse_config
from cotfactory.flows.run_parts import open_chain
from cotfactory.storage.ids import prompt_id_for
from cotfactory.storage.query import open_read_only


def stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/stats").json()


def reset(url: str) -> None:
    httpx.post(f"{url}/stats/reset").raise_for_status()


def run_config(folder: Path, url: str, args: argparse.Namespace) -> RunConfig:
    rows = [{"problem": problem, "answer": answer} for problem, answer in problems(args.prompts)]
    (folder / "prompts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    raw = {
        "name": "cost",
        "db": str(folder / "store.duckdb"),
        "samples_per_round": args.n,
        "target_accepted": args.n,
        "max_rounds": args.rounds,
        "prompts": {"files": [str(folder / "prompts.jsonl")], "source": "cost", "language": "en"},
        "sampler": {"kind": "openai", "model": "sim", "base_url": f"{url}/v1", "max_concurrency": args.concurrency},
        "sampling": {"max_tokens": args.max_tokens, "seed": 1},
    }
    return parse_config(raw, folder / "run.toml")


def judge(rows: list[dict[str, Any]], config: RunConfig, path: Path, db: str | None = None) -> list[bool]:
    """The run's chain on these traces (against the run's store when `db` is given): accepted or not, in order."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    out = io.StringIO()
    check_traces([path], out, run_config=config, db=Path(db) if db else None)
    return [json.loads(line)["accepted"] for line in out.getvalue().splitlines()]


async def reference(
    url: str, config: RunConfig, prompts: dict[str, str], folder: Path
) -> tuple[int, list[dict[str, Any]]]:
    """Round by round: every prompt still short of its target, n samples per request, a barrier, then the chain."""
    accepted = dict.fromkeys(prompts, 0)
    template = config.sampler.template
    concurrency = config.sampler.max_concurrency
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        gate = asyncio.Semaphore(concurrency)

        async def ask(problem: str, round_index: int) -> list[dict[str, Any]]:
            params = config.params_for_round(round_index)
            body = {"model": "sim", "messages": template.messages(problem), "n": params.n,
                    "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
                    "seed": params.seed_for(prompt_id_for(problem))}  # fmt: skip
            async with gate:
                response = await client.post(f"{url}/v1/chat/completions", json=body)
            response.raise_for_status()
            return [{"problem": problem, "answer": prompts[problem], "completion": c["message"]["content"],
                     "finish_reason": c["finish_reason"], "round": round_index, "language": "en"}
                    for c in response.json()["choices"]]  # fmt: skip

        rows: list[dict[str, Any]] = []
        for round_index in range(config.max_rounds):
            short = [p for p in prompts if accepted[p] < config.target_accepted]
            if not short:
                break
            sampled = [row for rows_of in await asyncio.gather(*(ask(p, round_index) for p in short))
                       for row in rows_of]  # fmt: skip
            for row, ok in zip(sampled, judge(sampled, config, folder / f"reference-{round_index}.jsonl"),
                               strict=True):  # fmt: skip
                accepted[row["problem"]] += ok
                row["accepted"] = ok
            rows += sampled
    return sum(accepted.values()), rows


def store_cost(db: str, run_id: str) -> tuple[int, float, str]:
    """The store's own figure: accepted samples, tokens per accepted trace, and where it was read."""
    with open_read_only(db) as con:
        (accepted,) = con.execute("SELECT count(*) FROM outcomes WHERE run_id = ? AND accepted", [run_id]).fetchone()
        try:
            (figure,) = con.execute("SELECT tokens_per_accepted FROM run_cost WHERE run_id = ?", [run_id]).fetchone()
            return accepted, float(figure), "run_cost.tokens_per_accepted"
        except duckdb.CatalogException:  # a store of a schema without the run_cost view
            pass
        (tokens,) = con.execute("SELECT sum(completion_tokens) FROM run_rounds WHERE run_id = ?", [run_id]).fetchone()
    return accepted, (tokens or 0) / max(1, accepted), "sum(run_rounds.completion_tokens) / accepted"


def recheck(config: RunConfig, run_id: str, profile: Profile, folder: Path) -> tuple[int, int, int]:
    """Every accepted sample of the run, as the server would have finished it, through the chain against the
    store: (accepted samples, rejected on recheck, stored text that is not the finished sample)."""
    with open_read_only(config.db) as con:
        found = con.execute(
            "SELECT sample_id, prompt_id, problem, reference, round, sample_index, completion FROM accepted "
            "WHERE run_id = ? ORDER BY sample_id", [run_id]).fetchall()  # fmt: skip
    rows, differing = [], 0
    detection = config.sampling.repetition_detection
    for sample_id, prompt_id, problem, answer, round_index, index, stored in found:
        seed = config.params_for_round(round_index).seed_for(prompt_id) + index
        message = config.sampler.template.messages(problem)[-1]["content"]
        full = generate(message, seed, profile, config.sampling.max_tokens, detection and detection.model_dump())
        differing += full.text != stored
        rows.append({"id": sample_id, "problem": problem, "answer": answer, "completion": full.text,
                     "finish_reason": full.finish_reason, "round": round_index, "language": "en"})  # fmt: skip
    verdicts = judge(rows, config, folder / "recheck.jsonl", config.db) if rows else []
    return len(rows), verdicts.count(False), differing


def floor_tokens(config: RunConfig, profile: Profile, prompts: list[str]) -> int:
    """The tokens a run would generate if each sample stopped at the very token at which the run's own watches
    doom it (no stream latency, no chunking): the most this chain's prefix-monotone checks can save here."""
    detection = config.sampling.repetition_detection
    total = 0
    with open_chain(config, None, workers=0) as chain:
        for problem in prompts:
            seed = config.params_for_round(0).seed_for(prompt_id_for(problem))
            message = config.sampler.template.messages(problem)[-1]["content"]
            for index in range(config.samples_per_round):
                tokens = generate(message, seed + index, profile, config.sampling.max_tokens,
                                  detection and detection.model_dump()).tokens  # fmt: skip
                judge = chain.stream_judge(PromptContext(problem, "math", "en"))
                stop = len(tokens)
                for count, token in enumerate(tokens, 1):
                    if judge is not None and judge.feed(text=token, tokens=count) is not None:
                        stop = count
                        break
                total += stop
    return total


def flow_run(config: RunConfig) -> str:
    from cotfactory.flows.generate import generate as generate_flow

    summary = generate_flow(config)
    assert summary.status == "completed", summary.status
    return summary.run_id


def tokens_line(name: str, counted: dict[str, Any], accepted: int) -> str:
    by_finish = ", ".join(f"{k} {v:,}" for k, v in sorted(counted["tokens_by_finish"].items()))
    by_kind = ", ".join(f"{k} {v:,}" for k, v in sorted(counted["tokens_by_kind"].items()))
    per = counted["completion_tokens"] / max(1, accepted)
    return (f"{name}: {counted['completion_tokens']:,} tokens ({by_finish}; by sample: {by_kind}), "
            f"{accepted} accepted, {per:,.0f} tok/accepted")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=256, help="requests in flight, both clients")
    parser.add_argument("--max-tokens", type=int, default=16384)
    parser.add_argument("--median-tokens", type=int, help="default: max_tokens x 4,000 / 32,768, as R1's")
    parser.add_argument("--loop-share", type=float, default=0.06)
    parser.add_argument("--slip-share", type=float, default=0.10)
    # a GPU decodes 20-100 tokens/s a sequence; much faster and one Python client on 2 cores reads the streams
    # later than they are made, so the server runs on past its aborts (the benchmark then measures the client)
    parser.add_argument("--token-us", type=float, default=10_000.0, help="streaming: time per generated token")
    # vLLM's --stream-interval: 1 (its default) sends every token as it is made; "8-32": a random size per event
    parser.add_argument("--stream-interval", default="1", help="streaming: tokens per event, N or A-B")
    args = parser.parse_args()
    for key, value in [("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("PREFECT_LOGGING_LEVEL", "WARNING"),
                       ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")]:  # fmt: skip
        os.environ.setdefault(key, value)
    median = args.median_tokens or args.max_tokens * 4000 // 32768
    profile = Profile(median, args.loop_share, args.slip_share)
    url, server = cost_server.start(profile, args.token_us / 1e6, args.stream_interval)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = run_config(folder, url, args)
            print(f"{args.prompts} prompts x {args.n} samples, {args.rounds} round(s), max_tokens "
                  f"{args.max_tokens:,}, median {median:,} tokens, {args.loop_share:.0%} loop, "
                  f"{args.slip_share:.0%} slip; streams of {args.stream_interval} token(s) an event, "
                  f"{args.token_us:,.0f} us a token")  # fmt: skip
            reset(url)
            start = time.monotonic()
            ref_accepted, _ = asyncio.run(reference(url, config, dict(problems(args.prompts)), folder))
            ref = stats(url)
            print(tokens_line("reference (whole responses, no loop detection)", ref, ref_accepted),
                  f"in {time.monotonic() - start:.0f}s")  # fmt: skip
            oracle = ref["tokens_by_kind"].get("clean", 0) / max(1, ref_accepted)
            ref_cost = ref["completion_tokens"] / max(1, ref_accepted)
            print(f"oracle (no token of a looping or slipping sample): {oracle:,.0f} tok/accepted, "
                  f"reference / oracle {ref_cost / oracle:.2f} (the ceiling)")  # fmt: skip
            if args.rounds == 1:  # every sample of the run is one of round 0
                floor = floor_tokens(config, profile, [p for p, _ in problems(args.prompts)]) / max(1, ref_accepted)
                print(f"floor (each sample stopped at the token at which the run's watches doom it): "
                      f"{floor:,.0f} tok/accepted, reference / floor {ref_cost / floor:.3f} "
                      "(the most this chain saves)")  # fmt: skip

            reset(url)
            start = time.monotonic()
            run_id = flow_run(config)
            run = stats(url)
            accepted, store_figure, source = store_cost(str(config.db), run_id)
            print(tokens_line(f"run {run_id}", run, accepted), f"in {time.monotonic() - start:.0f}s")
            run_cost = run["completion_tokens"] / max(1, accepted)
            diff = (store_figure - run_cost) / run_cost
            print(f"store: {store_figure:,.1f} tok/accepted ({source}), {diff:+.2%} vs the server's count")
            checked, rejected, differing = recheck(config, run_id, profile, folder)
            print(f"recheck: {checked} accepted samples on their full text, {rejected} rejected, "
                  f"{differing} stored texts differ from the finished sample")  # fmt: skip
    finally:
        server.kill()
    print(f"cost: reference {ref_cost:,.0f} tok/accepted, run {run_cost:,.0f} tok/accepted, "
          f"ratio={ref_cost / run_cost:.3f} (target >= 1.4), store vs simulator {abs(diff):.1%} (target <= 2%), "
          f"accepted rejected on recheck {rejected} (target 0)")  # fmt: skip


if __name__ == "__main__":
    main()
