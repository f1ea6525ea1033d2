"""A simulated R1-distill server behind an OpenAI-compatible endpoint, for the cost benchmark (benchmarks/cost.py).

    python benchmarks/cost_server.py [--port 8000] [--median-tokens 2000] [--loop-share 0.06] [--slip-share 0.10]

`POST /v1/chat/completions`: the samples of benchmarks/cost_text.py; choice i of a request with `seed = s` is the
sample of seed s + i, so n requests of one sample each get what one request of n gets. `repetition_detection`
ends a looping sample as vLLM does (finish reason `repetition`). `stream: true` answers in server-sent events of
`stream_interval` tokens each (vLLM's `--stream-interval`, default 1: every token as it is made; or a range
"8-32", a random size per event), one per `token_us` x tokens (generation is paced, so a client reads a stream
as it is made),
with `stream_options` `include_usage` (a last chunk with the usage) and `continuous_usage_stats` (the usage so far
on every chunk), as vLLM does. A client that closes the connection mid-stream aborts its request: the server
notices before its next chunk and stops. Answers that do not stream are sent whole, unpaced.
`GET /stats`: every generated token, by finish reason (`aborted` for disconnects) and by kind of sample (clean,
loop, slip), requests and prompt tokens; `POST /stats/reset` sets it to zero.
"""

import argparse
import asyncio
import json
import multiprocessing
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_text import Generated, Profile, generate


def interval_range(text: str | int) -> tuple[int, int]:
    """Tokens per event: "N" or "A-B" (a random size in [A, B] per event)."""
    low, _, high = str(text).partition("-")
    bounds = (int(low), int(high or low))
    if not 1 <= bounds[0] <= bounds[1]:
        raise ValueError(f"stream interval {text!r}: tokens per event, N or A-B with 1 <= A <= B")
    return bounds


class Simulator:
    def __init__(self, profile: Profile, token_s: float, stream_interval: str | int = 1) -> None:
        self.profile = profile
        self.token_s = token_s
        self.interval = interval_range(stream_interval)
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.prompt_tokens = 0
        self.tokens: Counter[str] = Counter()  # by finish reason
        self.kinds: Counter[str] = Counter()
        self.samples: Counter[str] = Counter()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": sum(self.tokens.values()),
            "tokens_by_finish": dict(self.tokens),
            "tokens_by_kind": dict(self.kinds),
            "samples_by_finish": dict(self.samples),
        }

    def count(self, sample: Generated, tokens: int, finish: str) -> None:
        self.tokens[finish] += tokens
        self.kinds[sample.kind] += tokens
        self.samples[finish] += 1

    def samples_for(self, body: dict[str, Any]) -> tuple[list[Generated], int]:
        messages = body.get("messages") or [{}]
        message = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        seed, n, max_tokens = int(body.get("seed") or 0), int(body.get("n") or 1), int(body.get("max_tokens") or 32768)
        detection = body.get("repetition_detection")
        self.requests += 1
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        self.prompt_tokens += prompt_tokens
        return [generate(message, seed + i, self.profile, max_tokens, detection) for i in range(n)], prompt_tokens


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    total = prompt_tokens + completion_tokens
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}


def _whole(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    samples, prompt_tokens = sim.samples_for(body)
    for sample in samples:
        sim.count(sample, len(sample.tokens), sample.finish_reason)
    choices = [
        {"index": i, "message": {"role": "assistant", "content": s.text}, "finish_reason": s.finish_reason}
        for i, s in enumerate(samples)
    ]
    completion_tokens = sum(len(s.tokens) for s in samples)
    return {"object": "chat.completion", "model": body.get("model"), "choices": choices,
            "usage": _usage(prompt_tokens, completion_tokens)}  # fmt: skip


def _event(payload: Any) -> bytes:
    data = b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"  # one HTTP chunk per event


async def _stream(sim: Simulator, body: dict[str, Any], reader: asyncio.StreamReader, writer: Any) -> bool:
    """Send the samples as server-sent events; False when the client went away (its samples aborted)."""
    samples, prompt_tokens = sim.samples_for(body)
    options = body.get("stream_options") or {}
    continuous = bool(options.get("continuous_usage_stats"))
    base = {"object": "chat.completion.chunk", "model": body.get("model"), "created": int(time.time())}
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    sent = [0] * len(samples)

    def gone() -> bool:
        return reader.at_eof() or writer.is_closing()

    async def one(index: int, sample: Generated) -> bool:
        rng = random.Random(index)
        writer.write(_event({**base, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""}}]}))
        while sent[index] < len(sample.tokens):
            size = min(rng.randint(*sim.interval), len(sample.tokens) - sent[index])
            await asyncio.sleep(size * sim.token_s)  # the engine generates these tokens meanwhile
            sent[index] += size
            if gone():
                return False
            last = sent[index] == len(sample.tokens)
            delta = {"content": "".join(sample.tokens[sent[index] - size : sent[index]])}
            chunk = {**base, "choices": [{"index": index, "delta": delta,
                                          "finish_reason": sample.finish_reason if last else None}]}  # fmt: skip
            if continuous:
                chunk["usage"] = _usage(prompt_tokens, sent[index])
            writer.write(_event(chunk))
            await writer.drain()
        return True

    try:
        finished = all(await asyncio.gather(*(one(i, s) for i, s in enumerate(samples))))
        if finished:
            if options.get("include_usage"):
                writer.write(_event({**base, "choices": [], "usage": _usage(prompt_tokens, sum(sent))}))
            writer.write(_event(b"[DONE]") + b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:  # the client went away while a chunk was on its way
        finished = False
    for sample, tokens in zip(samples, sent, strict=True):
        sim.count(sample, tokens, sample.finish_reason if finished else "aborted")
    return finished


async def _handle(sim: Simulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            raw = await reader.readexactly(int(headers.get("content-length", 0)))
            body = json.loads(raw) if raw else {}
            status, payload = 200, {}
            if path.endswith("/chat/completions") and body.get("stream"):
                if not await _stream(sim, body, reader, writer):
                    break
                continue
            if path.endswith("/chat/completions"):
                payload = _whole(sim, body)
            elif path == "/stats" and method == "GET":
                payload = sim.stats()
            elif path == "/stats/reset" and method == "POST":
                sim.reset()
            else:
                status, payload = 404, {"error": {"message": f"no route {method} {path}"}}
            data = json.dumps(payload).encode()
            reply = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
            writer.write(reply.encode() + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(profile: Profile, token_s: float, port: int, ready: Any = None, interval: str | int = 1) -> None:
    sim = Simulator(profile, token_s, interval)
    server = await asyncio.start_server(lambda r, w: _handle(sim, r, w), "127.0.0.1", port, backlog=1024)
    if ready is not None:
        ready.put(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def _serve(ready: Any, profile: Profile, token_s: float, interval: str | int) -> None:
    asyncio.run(serve(profile, token_s, 0, ready, interval))


def start(profile: Profile, token_s: float = 10e-3, interval: str | int = 1) -> tuple[str, Any]:
    """Start the simulator in its own process on a free port; returns its base URL and the process."""
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=_serve, args=(ready, profile, token_s, interval), daemon=True)
    process.start()
    return f"http://127.0.0.1:{ready.get(timeout=60)}", process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--median-tokens", type=int, default=2000)
    parser.add_argument("--loop-share", type=float, default=0.06)
    parser.add_argument("--slip-share", type=float, default=0.10)
    parser.add_argument("--pass-rate", type=float, default=0.6)
    parser.add_argument("--token-us", type=float, default=10_000.0, help="time per generated token, microseconds")
    parser.add_argument("--stream-interval", default="1", help="tokens per streamed event: N, or A-B at random")
    args = parser.parse_args()
    profile = Profile(args.median_tokens, args.loop_share, args.slip_share, args.pass_rate)
    asyncio.run(serve(profile, args.token_us / 1e6, args.port, interval=args.stream_interval))


if __name__ == "__main__":
    main()
