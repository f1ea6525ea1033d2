"""The generate flow vs its sampler alone: does checking and storing hide behind sampling?

    python benchmarks/flow_overhead.py [--prompts 192] [--n 4] [--batch-size 16] [--latency 1.0]

A local OpenAI-compatible server answers every request after `--latency` seconds (standing in for the GPU's
generation time) with an 8 KB R1-style trace. Three timings on the same prompts, in this process:
- sampler: `OpenAIHttpSampler.generate` batch after batch, nothing else (the floor);
- sequential: sample, check (the default chain in a 2-process pool), store, one batch after the other;
- flow: the real Prefect flow, where batch k is checked and stored while batch k+1 is sampled, timed from
  the start of round 0 to the last batch stored. Its once-per-run costs are printed apart: the start-up
  (mostly the check pool's, which in a real run overlaps the engine's loading) and the finish (checkpoint
  of the store, funnel, artifact).
Headline: sampler time / flow time (1.0 = checking and storing cost nothing). Target >= 0.9.
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.extend(str(Path(__file__).resolve().parents[1] / folder) for folder in ("tests", "examples"))

from openai_server import OpenAIServer

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import build_checks
from cotfactory.flows.config import RunConfig
from cotfactory.flows.generate import generate
from cotfactory.flows.run_control import controlling
from cotfactory.samplers.base import requests_for
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.storage import JudgedSample, PromptRecord, Store, VerdictRecord
from cotfactory.storage.store import write_batch

SENTENCES = [
    "Let me set up the equation carefully and check each step.",
    "The sum of the roots is given by Vieta's formulas, so we need -b/a.",
    "Wait, that does not look right; let me recompute the discriminant.",
    "Substituting $x = {a}$ gives ${a}^2 + {b} = {c}$, which matches.",
    "So the remainder of $2^{{{a}}}$ modulo 7 cycles with period 3.",
    "Therefore the area is ${a} \\times {b} = {c}$ square units.",
    "Hmm, let us double check the arithmetic: {a} plus {b} is {c}.",
    "Now consider the case where the triangle is right-angled at $C$.",
]


WORDS = sorted({word for sentence in SENTENCES for word in sentence.split() if "{" not in word})


def trace(rng: random.Random, size: int) -> str:
    """Reasoning-like text: template sentences with fresh numbers, and sentences of shuffled words, so that
    it reads like varied reasoning to the checks (no looping)."""
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        if rng.random() < 0.5:
            parts.append(rng.choice(SENTENCES).format(a=a, b=b, c=a + b))
        else:
            parts.append(" ".join(rng.choices(WORDS, k=rng.randint(6, 14))) + f" {a}.")
        if rng.random() < 0.1:
            parts.append("\n\n")
    return " ".join(parts)


def r1_trace(body: dict[str, Any], index: int) -> dict[str, Any]:
    rng = random.Random(body.get("seed", 0) * 1009 + index)
    answer = 4 if rng.random() < 0.5 else 5
    return {"role": "assistant", "content": f"<think>\n{trace(rng, 8000)}\n</think>\n\nSo $x = \\boxed{{{answer}}}$."}


def prompts(count: int) -> list[PromptRecord]:
    return [PromptRecord.create(f"Problem {i}: what is 2 + 2?", source="bench", reference="4") for i in range(count)]


def batches(items: list[PromptRecord], size: int) -> list[list[PromptRecord]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def sampler_only(sampler: OpenAIHttpSampler, config: RunConfig, selected: list[PromptRecord]) -> float:
    start = time.perf_counter()
    for batch in batches(selected, config.batch_size):
        sampler.generate(requests_for([p.problem for p in batch], config.params_for_round(0)))
    return time.perf_counter() - start


def sequential(sampler: OpenAIHttpSampler, config: RunConfig, selected: list[PromptRecord], db: Path) -> float:
    store = Store(db)
    with Chain(build_checks(config.checks), workers=2) as checker:
        checker.start()  # outside the timing: a run starts its pool while the engine loads
        start = time.perf_counter()
        for batch in batches(selected, config.batch_size):
            results = sampler.generate(requests_for([p.problem for p in batch], config.params_for_round(0)))
            samples = [
                Sample.from_completion(p.problem, c.text, reference=p.reference, prompt_id=p.prompt_id)
                for p, cs in zip(batch, results, strict=True)
                for c in cs
            ]
            decisions = checker.run(samples)
            records, verdicts = [], []
            for sample, decision in zip(samples, decisions, strict=True):
                record = JudgedSample.create(
                    prompt_id=sample.prompt_id,
                    model="bench",
                    completion=sample.completion,
                    run_id="sequential",
                    accepted=decision.accepted,
                    reject_check=decision.check,
                    reject_reason=decision.reason,
                )
                records.append(record)
                verdicts += [
                    VerdictRecord(
                        run_id="sequential",
                        sample_id=record.sample_id,
                        check_name=name,
                        passed=v.passed,
                        reason=v.reason,
                    )
                    for name, v in decision.verdicts.items()
                ]
            with store.transaction(checkpoint_on_close=False, memory_capped=True) as con:  # as a run commits
                write_batch(con, records, verdicts)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=192)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    folder = Path(tempfile.mkdtemp())
    selected = prompts(args.prompts)
    with OpenAIServer(r1_trace) as server, prefect_test_harness(server_startup_timeout=120):
        server.latency_s = args.latency
        raw = {
            "db": str(folder / "flow.duckdb"),
            "samples_per_round": args.n,
            "batch_size": args.batch_size,
            "sampler": {"kind": "openai", "base_url": server.url, "model": "bench", "max_concurrency": 64},
            "checking": {"workers": 2},
        }
        config = RunConfig.model_validate(raw)
        sampler = OpenAIHttpSampler(OpenAIHttpConfig(**config.sampler.model_dump(exclude={"kind"})))
        Store(config.db).add_prompts(selected)
        Store(folder / "sequential.duckdb").add_prompts(selected)
        warm = RunConfig.model_validate({**raw, "db": str(folder / "warm.duckdb"), "name": "warm"})
        Store(warm.db).add_prompts(selected[:2])
        with controlling(sampler=sampler):
            generate(warm)  # the first flow run pays Prefect's and the pool's start-up

        floor = sampler_only(sampler, config, selected)
        in_order = sequential(sampler, config, selected, folder / "sequential.duckdb")
        start = time.perf_counter()
        # Progress reports come when round 0 starts (the pool is up) and after each stored batch.
        reports: list[float] = []
        with controlling(sampler=sampler, on_progress=lambda progress: reports.append(time.perf_counter())):
            summary = generate(config)
        end = time.perf_counter()
        flow, start_up, finish = reports[-1] - reports[0], reports[0] - start, end - reports[-1]

    samples = summary.progress.samples
    print(
        f"{args.prompts} prompts x {args.n} samples of 8 KB, {args.batch_size} prompts per batch, "
        f"{args.latency:g}s per request"
    )
    print(f"sampler alone: {floor:6.2f}s  ({samples / floor:6.1f} samples/s)")
    print(f"sequential:    {in_order:6.2f}s  ({samples / in_order:6.1f} samples/s)  sample -> check -> store")
    print(f"flow:          {flow:6.2f}s  ({samples / flow:6.1f} samples/s)  {summary.progress.accepted} accepted")
    print(
        f"  once per run: {start_up:.2f}s start-up (flow run, prompt selection, check pool: overlaps engine loading), "
        f"{finish:.2f}s finish (checkpoint, funnel, artifact)"
    )
    print(f"flow vs sampler alone: ratio={floor / flow:.2f} (target >= 0.9), sequential ratio={floor / in_order:.2f}")


if __name__ == "__main__":
    main()
