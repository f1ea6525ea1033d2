"""An HTTP server on 127.0.0.1 that answers each request with exactly the bytes a test scripts, for servers that
stream otherwise than the test server: odd framing, malformed events, keep-alives, a server's own aborts."""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# An answer: HTTP status, content type, and what to send: bytes (written at once) or seconds to wait.
Answer = tuple[int, str, list[bytes | float]]


def event(payload: Any, *, prefix: bytes = b"data: ", end: bytes = b"\n\n") -> bytes:
    """One server-sent event carrying `payload` as JSON."""
    return prefix + json.dumps(payload).encode() + end


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chat completion chunk with one choice; `extra` goes into the delta, `usage` onto the chunk."""
    usage = extra.pop("usage", None)
    delta = {**({"content": content} if content is not None else {}), **extra}
    found: dict[str, Any] = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta,
                                                                            "finish_reason": finish}]}  # fmt: skip
    return found | ({"usage": usage} if usage is not None else {})


def stream(*events: bytes | float) -> Answer:
    return 200, "text/event-stream", [*events, b"data: [DONE]\n\n"]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


class ScriptedServer:
    """Answers request `number` (from 1) with `script(body, number)`; records each request's body and port."""

    def __init__(self, script: Callable[[dict[str, Any], int], Answer]) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    number = len(server.requests)
                status, content_type, parts = server.script(body, number)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.end_headers()
                    for part in parts:
                        if isinstance(part, float):
                            time.sleep(part)
                            continue
                        self.wfile.write(part)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away
                self.close_connection = True

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
