"""A simulated GPU behind an OpenAI-compatible endpoint, for the utilization benchmark.

`slots` sequence slots (vLLM's max_num_seqs); each sequence holds a slot for its own length, lengths long-tailed
as R1's are (log-normal, median 4,000 tokens, p99 about 25,000, capped by max_tokens); a request with `n`
answers when its last sequence ends, as vLLM does. Lengths and correctness depend only on (seed, index), so two
clients that send the same requests get the same work. Runs in its own process (asyncio, raw HTTP/1.1 with
keep-alive); GET /stats reports the slot-seconds used between the first request and the last answer.
"""

import asyncio
import json
import math
import multiprocessing
import random
import time
from typing import Any

MEDIAN_TOKENS = 4000
SIGMA = math.log(25_000 / MEDIAN_TOKENS) / 2.326  # p99 at 25,000 tokens
WORDS = "so then we check the sum again because each term adds one more and the total follows from it".split()  # noqa: SIM905


def sequence(seed: int, index: int, max_tokens: int, accept_rate: float) -> tuple[int, bool]:
    """The length of one sequence and whether its answer is right."""
    rng = random.Random(seed * 1_000_003 + index)
    length = min(max_tokens, max(16, int(rng.lognormvariate(math.log(MEDIAN_TOKENS), SIGMA))))
    return length, rng.random() < accept_rate


def content(seed: int, index: int, right: bool, reference: str, words: int = 60) -> str:
    rng = random.Random(seed * 7 + index)
    reasoning = " ".join(rng.choice(WORDS) for _ in range(words))
    answer = reference if right else str(int(reference) + 1)
    return f"<think>\nAttempt {seed}-{index}: {reasoning}\n</think>\n\nThe answer is $\\boxed{{{answer}}}$."


class SimulatedGpu:
    def __init__(
        self, slots: int, token_s: float, references: dict[str, str], accept_rate: float, words: int = 60
    ) -> None:
        self.words = words
        self.slots = asyncio.Semaphore(slots)
        self.slot_count = slots
        self.token_s = token_s
        self.references = references
        self.accept_rate = accept_rate
        self.fail_after: int | None = None
        self.reset()

    def reset(self) -> None:
        self.busy_slot_s = 0.0
        self.first: float | None = None
        self.last = 0.0
        self.requests = 0

    async def _run_sequence(self, length: int) -> None:
        async with self.slots:
            start = time.monotonic()
            await asyncio.sleep(length * self.token_s)
            self.busy_slot_s += time.monotonic() - start

    async def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            return 503, {"error": {"message": "this GPU node went away"}}
        self.first = self.first or time.monotonic()
        problem = body["messages"][-1]["content"].split("\n")[0]
        reference = self.references[problem]
        seed, n, max_tokens = int(body["seed"]), int(body.get("n", 1)), int(body["max_tokens"])
        # choice i of a request seeded s is the one-sample request seeded s + i (a request per sample, as the flow)
        work = [sequence(seed + i, 0, max_tokens, self.accept_rate) for i in range(n)]
        await asyncio.gather(*(self._run_sequence(length) for length, _ in work))
        self.last = time.monotonic()
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": content(seed + i, 0, right, reference, self.words)},
                "finish_reason": "length" if length >= max_tokens else "stop",
            }
            for i, (length, right) in enumerate(work)
        ]
        tokens = sum(length for length, _ in work)
        return 200, {"choices": choices, "usage": {"prompt_tokens": 50, "completion_tokens": tokens}}

    def stats(self) -> dict[str, float]:
        span = (self.last - self.first) if self.first else 0.0
        busy = self.busy_slot_s / (self.slot_count * span) if span > 0 else 0.0
        return {"busy_fraction": busy, "span_s": span, "requests": self.requests, "slot_s": self.busy_slot_s}


async def _handle(gpu: SimulatedGpu, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            if path.endswith("/chat/completions"):
                status, payload = await gpu.complete(json.loads(body))
            elif path == "/stats":
                status, payload = 200, gpu.stats()
            elif path == "/reset":
                gpu.reset()
                gpu.fail_after = json.loads(body).get("fail_after") if body else None
                status, payload = 200, {}
            else:
                status, payload = 404, {}
            data = json.dumps(payload).encode()
            response_head = (
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
            )
            writer.write(response_head.encode() + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    finally:
        writer.close()


def _serve(ready: Any, slots: int, token_s: float, references: dict[str, str], accept_rate: float, words: int) -> None:
    async def main() -> None:
        gpu = SimulatedGpu(slots, token_s, references, accept_rate, words)
        server = await asyncio.start_server(lambda r, w: _handle(gpu, r, w), "127.0.0.1", 0, backlog=1024)
        ready.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start(
    slots: int, token_s: float, references: dict[str, str], accept_rate: float, words: int = 60
) -> tuple[str, Any]:
    """Start a simulated GPU server in its own process; returns its base URL and the process. `words`: the
    reasoning's length in words."""
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    args = (ready, slots, token_s, references, accept_rate, words)
    process = context.Process(target=_serve, args=args, daemon=True)
    process.start()
    return f"http://127.0.0.1:{ready.get(timeout=60)}", process
