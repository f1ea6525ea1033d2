"""Sampler overhead: cotfactory's samplers vs the raw clients they wrap, same prompts and params, same process.

    python benchmarks/sampler_overhead.py [--prompts 64] [--n 4] [--max-tokens 128] [--repeats 3]

vllm_offline: `VllmOfflineSampler.generate` vs `vllm.LLM.generate` on the same engine (a tiny random-weight
model on CPU, built on the spot), same rendered prompts and seeds, so both produce the same tokens.
openai_http: `OpenAIHttpSampler.generate` vs the `openai` AsyncClient with the same concurrency, against the
same local OpenAI-compatible server (the test server, which answers at once: the clients' own cost shows).
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.extend(str(Path(__file__).resolve().parents[1] / folder) for folder in ("tests", "examples"))

from openai_server import OpenAIServer
from tiny_model import build_tiny_model

from cotfactory.samplers.base import SampleRequest, SamplingParams, requests_for
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.samplers.vllm_offline import VllmOfflineConfig, VllmOfflineSampler


def alternate(first, second, repeats: int) -> tuple[list[float], list[float]]:
    """Run both `repeats` times, interleaved so drift of the machine hits both alike; returns their rates."""
    a, b = [], []
    for _ in range(repeats):
        a.append(first())
        b.append(second())
    return a, b


def bench_vllm(args: argparse.Namespace, prompts: list[SampleRequest], params: SamplingParams) -> float:
    import vllm

    model = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny")
    sampler = VllmOfflineSampler(
        VllmOfflineConfig(model=str(model), dtype="float32", max_model_len=1024, enforce_eager=True)
    )
    texts = [sampler.render(p) for p in prompts]
    raw_params = [
        vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=p.seed,
        )
        for p in prompts
    ]

    def raw() -> float:
        start = time.perf_counter()
        outputs = sampler.llm.generate(texts, raw_params, use_tqdm=False)
        tokens = sum(len(o.token_ids) for output in outputs for o in output.outputs)
        return tokens / (time.perf_counter() - start)

    def ours() -> float:
        start = time.perf_counter()
        results = sampler.generate(prompts)
        tokens = sum(c.completion_tokens or 0 for completions in results for c in completions)
        return tokens / (time.perf_counter() - start)

    raw()  # warm-up
    raw_rates, our_rates = alternate(raw, ours, args.repeats)
    sampler.close()
    ratio = statistics.median(our_rates) / statistics.median(raw_rates)
    print(f"vllm raw LLM.generate:        {statistics.median(raw_rates):10,.0f} output tokens/s")
    print(f"vllm_offline.generate:        {statistics.median(our_rates):10,.0f} output tokens/s  ratio={ratio:.2f}")
    return ratio


def bench_http(args: argparse.Namespace, prompts: list[SampleRequest], params: SamplingParams) -> float:
    from openai import AsyncOpenAI

    with OpenAIServer() as server:
        config = OpenAIHttpConfig(base_url=server.url, model="tiny", max_concurrency=args.concurrency)
        sampler = OpenAIHttpSampler(config)

        async def raw_async() -> int:
            client = AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0)
            limit = asyncio.Semaphore(args.concurrency)

            async def one(prompt: SampleRequest) -> int:
                async with limit:
                    response = await client.chat.completions.create(
                        model="tiny",
                        messages=config.template.messages(prompt.problem),
                        n=params.n,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        max_tokens=params.max_tokens,
                        seed=prompt.seed,
                    )
                return response.usage.completion_tokens

            try:
                return sum(await asyncio.gather(*(one(p) for p in prompts)))
            finally:
                await client.close()

        def raw() -> float:
            start = time.perf_counter()
            tokens = asyncio.run(raw_async())
            return tokens / (time.perf_counter() - start)

        def ours() -> float:
            start = time.perf_counter()
            results = sampler.generate(prompts)
            # usage is per request when n > 1: count the requests' tokens as the server reported them
            tokens = 7 * sum(len(completions) for completions in results)
            return tokens / (time.perf_counter() - start)

        raw()
        raw_rates, our_rates = alternate(raw, ours, args.repeats)
    ratio = statistics.median(our_rates) / statistics.median(raw_rates)
    print(f"openai AsyncClient:           {statistics.median(raw_rates):10,.0f} output tokens/s")
    print(f"openai_http.generate:         {statistics.median(our_rates):10,.0f} output tokens/s  ratio={ratio:.2f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--http-prompts", type=int, default=400)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    params = SamplingParams(n=args.n, temperature=1.0, max_tokens=args.max_tokens, seed=3)
    prompts = requests_for([f"Problem {i}: what is {i} times {i}?" for i in range(args.prompts)], params)
    http_prompts = requests_for([f"Problem {i}" for i in range(args.http_prompts)], params)
    vllm_ratio = bench_vllm(args, prompts, params)
    http_ratio = bench_http(args, http_prompts, params)
    print(
        f"sampler overhead: vllm_offline ratio={vllm_ratio:.2f} (target >= 0.95), "
        f"openai_http ratio={http_ratio:.2f} (target >= 0.9)"
    )


if __name__ == "__main__":
    main()
