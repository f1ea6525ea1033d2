"""A small OpenAI-compatible chat completions server on 127.0.0.1 for tests, with scripted failures; it streams
(server-sent events, a few characters per chunk, one token each) when a request asks to."""

import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], dict[str, Any]]


def r1_answer(body: dict[str, Any], index: int) -> dict[str, Any]:
    """A default choice: reasoning in think tags and a boxed answer, different per seed and index."""
    seed = body.get("seed", 0) + index
    return {"role": "assistant", "content": f"<think>\nworking, seed {seed}\n</think>\n\n\\boxed{{{seed % 10}}}"}


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 resets connections under 64 concurrent clients
    daemon_threads = True


class OpenAIServer:
    """Serves /v1/chat/completions. `script` holds replies to send before the default ones; `gate` holds each
    request until that many are in flight; `hold` makes requests wait until it is set (for timeouts)."""

    def __init__(self, answer: Callable[[dict[str, Any], int], dict[str, Any]] = r1_answer) -> None:
        self.answer = answer
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reject_n = False
        self.split_reasoning = False
        self.gate: threading.Barrier | None = None
        self.hold: threading.Event | None = None
        # Requests after the first `hold_after` wait for `hold`; `held` is set when the first of them arrives.
        self.hold_after = 0
        self.held = threading.Event()
        # Requests after the first `fail_after` get HTTP 503 (a server that went away).
        self.fail_after: int | None = None
        # Seconds each request takes, standing in for generation time in benchmarks.
        self.latency_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        # Streaming: characters per chunk, seconds between chunks (generation speed), and what clients cut off.
        self.chunk_chars = 8
        self.chunk_delay_s = 0.0
        self.disconnects: list[int] = []  # chunks sent to each stream whose client went away
        self.disconnected = threading.Event()
        self.ignore_stream = False  # answer whole, as a server that cannot stream
        self.streams_open = 0  # streams being sent now
        self.streams_done = 0  # streams sent to their end
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        if self.gate is not None:
            self.gate.abort()
        self._server.shutdown()
        self._server.server_close()

    def reply(self, body: dict[str, Any]) -> Reply:
        if self.script:
            return self.script.popleft()
        n = body.get("n", 1)
        if self.reject_n and n > 1:
            return 400, {}, {"error": {"message": "n > 1 is not supported", "param": "n"}}
        choices = []
        for index in range(n):
            message = dict(self.answer(body, index))
            finish_reason = message.pop("finish_reason", "stop")
            if self.split_reasoning and "</think>" in message["content"]:
                reasoning, content = message["content"].split("</think>", 1)
                reasoning = reasoning.replace("<think>", "").strip()
                message = {**message, "reasoning_content": reasoning, "content": content}
            choices.append({"index": index, "message": message, "finish_reason": finish_reason})
        usage = {"prompt_tokens": 12, "completion_tokens": 7 * n, "total_tokens": 12 + 7 * n}
        return 200, {}, {"id": "cmpl-test", "object": "chat.completion", "choices": choices, "usage": usage}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                import time

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    number = len(server.requests)
                    server.headers.append(dict(self.headers))
                    server.arrivals.append(time.monotonic())
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.gate is not None:
                        server.gate.wait(timeout=30)
                    if server.hold is not None and number > server.hold_after:
                        server.held.set()
                        server.hold.wait(timeout=120)
                    if server.latency_s:
                        time.sleep(server.latency_s)
                    if server.fail_after is not None and number > server.fail_after:
                        status, headers, payload = 503, {}, {"error": {"message": "overloaded"}}
                    else:
                        status, headers, payload = server.reply(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                if body.get("stream") and status == 200 and not server.ignore_stream:
                    self._stream(body, payload)
                    return
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for key, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def _stream(self, body: dict[str, Any], payload: dict[str, Any]) -> None:
                import time

                choice = payload["choices"][0]
                message = choice["message"]
                pieces = (
                    [("reasoning_content", message["reasoning_content"])] if "reasoning_content" in message else []
                )
                pieces.append(("content", message.get("content") or ""))
                chunks = [
                    {key: text[start : start + server.chunk_chars]}
                    for key, text in pieces
                    for start in range(0, len(text), server.chunk_chars)
                ]
                options = body.get("stream_options") or {}
                sent = 0
                with server._lock:
                    server.streams_open += 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for index, delta in enumerate(chunks):
                        last = index == len(chunks) - 1
                        event: dict[str, Any] = {
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": delta,
                                    "finish_reason": choice["finish_reason"] if last else None,
                                }
                            ]
                        }
                        if options.get("continuous_usage_stats"):
                            event["usage"] = {"prompt_tokens": 12, "completion_tokens": index + 1}
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        sent += 1
                        if server.chunk_delay_s:
                            time.sleep(server.chunk_delay_s)
                    if options.get("include_usage"):
                        usage = {"prompt_tokens": 12, "completion_tokens": len(chunks)}
                        self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    with server._lock:
                        server.streams_done += 1
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:
                        server.disconnects.append(sent)
                    server.disconnected.set()
                    self.close_connection = True
                finally:
                    with server._lock:
                        server.streams_open -= 1

        return Handler
