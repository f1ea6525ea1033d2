"""The generate flow feeding vLLM's engine continuously vs one `LLM.generate` call over the same requests.

    python benchmarks/vllm_continuous.py [--prompts 96] [--n 4] [--max-tokens 512]

The real vLLM engine (the CPU build here) on the tiny random-weight model of the tests: at temperature 1 its
sequences end at a random end-of-text token or at `--max-tokens`, so lengths vary widely. The baseline is one
`LLM.generate` call over every prompt with the same per-prompt seeds (the best case for a barrier: a single
batch). The flow runs one round of the same prompts, feeding the engine unit by unit (`LLM.enqueue` while the
engine steps), checking and storing beside it; it is timed from its first progress report (run started, check
workers up) to its last stored group. Headline: flow tokens/s over baseline tokens/s. Target >= 0.9.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.extend(str(Path(__file__).resolve().parents[1] / folder) for folder in ("tests", "examples"))

from tiny_model import build_tiny_model

from cotfactory.flows.config import RunConfig
from cotfactory.samplers.base import requests_for
from cotfactory.storage import PromptRecord, Store, query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=96)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=512)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    from cotfactory.flows.generate import generate
    from cotfactory.flows.run_control import controlling
    from cotfactory.samplers.vllm_offline import VllmOfflineConfig, VllmOfflineSampler

    folder = Path(tempfile.mkdtemp())
    model = build_tiny_model(folder / "model")
    sampler = VllmOfflineSampler(
        VllmOfflineConfig(model=str(model), dtype="float32", max_model_len=1024, enforce_eager=True)
    )
    prompts = [PromptRecord.create(f"What is {i} times {i + 3}?", source="bench") for i in range(args.prompts)]
    raw = {
        "db": str(folder / "flow.duckdb"),
        "samples_per_round": args.n,
        "target_accepted": 1000,
        "max_rounds": 1,
        "checks": ["non_empty"],
        "sampler": {"kind": "vllm", "model": str(model)},
        "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": args.max_tokens, "seed": 5},
        "checking": {"workers": 1},
        "dedup": {"enabled": False},
    }
    config = RunConfig.model_validate(raw)
    params = config.params_for_round(0)
    try:
        with prefect_test_harness(server_startup_timeout=180):
            warm = RunConfig.model_validate({**raw, "db": str(folder / "warm.duckdb"), "name": "warm"})
            Store(warm.db).add_prompts(prompts[:2])
            with controlling(sampler=sampler):
                generate(warm)  # the first flow run pays Prefect's and the pool's start-up

            requests = requests_for([p.problem for p in prompts], params)
            texts = [sampler.render(r) for r in requests]
            vllm_params = [sampler._params(params, r.seed) for r in requests]
            start = time.perf_counter()
            outputs = sampler.llm.generate(texts, vllm_params, use_tqdm=False)
            baseline_s = time.perf_counter() - start
            lengths = [len(o.token_ids) for output in outputs for o in output.outputs]

            Store(config.db).add_prompts(prompts)
            reports: list[float] = []
            with controlling(sampler=sampler, on_progress=lambda p: reports.append(time.perf_counter())):
                summary = generate(config)
            flow_s = reports[-1] - reports[0]
    finally:
        sampler.close()
    ((flow_tokens,),) = query("SELECT sum(completion_tokens)::BIGINT FROM completions", config.db).rows()
    baseline_rate, flow_rate = sum(lengths) / baseline_s, flow_tokens / flow_s
    quartiles = statistics.quantiles(lengths, n=20)
    print(f"{args.prompts} prompts x n={args.n}, max_tokens {args.max_tokens}; sequence lengths: median "
          f"{statistics.median(lengths):.0f}, p5 {quartiles[0]:.0f}, p95 {quartiles[-1]:.0f}")  # fmt: skip
    print(f"one LLM.generate call: {baseline_s:6.2f}s  {baseline_rate:8,.0f} tokens/s  ({sum(lengths):,} tokens)")
    print(f"generate flow:         {flow_s:6.2f}s  {flow_rate:8,.0f} tokens/s  ({flow_tokens:,} tokens, "
          f"{summary.samples} samples stored)")  # fmt: skip
    print(f"flow vs one LLM.generate call, tokens/s: ratio={flow_rate / baseline_rate:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
