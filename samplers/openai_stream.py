"""One completion streamed from an OpenAI-compatible server (`stream: true`, server-sent events), watched as it
arrives and cut off the moment its judge finds it doomed: closing the connection makes vLLM abort the request,
so no more of its tokens are generated. Tokens are the server's own count (vLLM's continuous usage stats),
or one per chunk of text when the server sends none.

The stream is hostile data like the text it carries: an event that is not the shape of a chat completion chunk,
a server that ends a sequence itself (`abort`, `error`) or stops without a finish reason, and a stream that only
sends keep-alives fail the attempt, which is retried as a dropped connection is."""

import logging
import re
import time
from typing import Any

import httpx

from cotfactory.samplers.base import ABORTED, SamplerError, StreamWatch
from cotfactory.samplers.endpoints import Endpoint, Fleet
from cotfactory.samplers.http_clients import ClientPool
from cotfactory.samplers.http_retry import (
    RETRYABLE_STATUS,
    RetryPolicy,
    refusal,
    retry_or_raise,
    whole_answer,
)
from cotfactory.samplers.stream_chunks import DONE, Dropped, Events, Streamed, take_chunk
from cotfactory.samplers.stream_pieces import PieceFeed

log = logging.getLogger("cotfactory.samplers.openai_http")


_LINE_END = re.compile(r"\r\n|\r|\n")  # the SSE format's line ends, and no others (JSON text may hold U+2028)


def _lines(carried: str, text: str) -> tuple[list[str], str]:
    """The whole lines of what was carried over and what arrived, and what is left of a line not ended yet (a
    `\r` at the end waits: a `\n` may follow it)."""
    text = carried + text
    held = "\r" if text.endswith("\r") else ""
    lines = _LINE_END.split(text[: len(text) - len(held)])
    return lines, lines.pop() + held


async def _read(response: httpx.Response, judge: StreamWatch | None, streamed: Streamed, stall_s: float) -> None:
    """Read the stream into `streamed` to its end, or to the moment its judge finds it doomed. The judge is handed
    the stream in fixed pieces (`PieceFeed`), whatever the network's reads: an aborted sample keeps the same
    prefix every time; and when the client runs behind the server, the events waiting cost a parse each and the
    judge a feed per piece, which is what lets it catch up."""
    events, carried = Events(), ""
    pieces = PieceFeed(judge) if judge is not None else None
    progress_at = time.monotonic()
    ended = False
    try:
        async for arrived in response.aiter_text():
            lines, carried = _lines(carried, arrived)
            grew = False
            for line in lines:
                complete, event = events.line(line)
                if not complete:
                    continue
                if event is DONE:
                    ended = True
                    break
                text, reasoning = take_chunk(streamed, event)
                if text or reasoning:
                    grew = True
                    if pieces is not None and (failure := pieces.add(text, reasoning, streamed.completion_tokens)):
                        # the stored prefix is what the judge was handed; leaving the response unread closes the
                        # connection: the server aborts
                        streamed.cut(pieces.fed_text, pieces.fed_reasoning, f"{ABORTED}{failure[0]}")
                        return
            if grew:
                progress_at = time.monotonic()
            elif time.monotonic() - progress_at > stall_s:  # keep-alives or empty events alone, no token
                raise Dropped(f"no token for {stall_s:g}s, only keep-alives")
            if ended:
                break
        if not ended:  # an event the stream ended in without its line end or its blank line
            for line in [carried, ""] if carried else [""]:
                complete, event = events.line(line)
                if complete and event is not DONE:
                    take_chunk(streamed, event)
    except httpx.TransportError as error:
        raise Dropped(f"the stream broke off ({type(error).__name__}: {error})") from error
    if streamed.finish_reason is None:
        raise Dropped("the stream ended without a finish reason")
    streamed.flush()


async def stream_with_retries(
    clients: ClientPool,
    fleet: Fleet,
    body: dict[str, Any],
    headers: dict[str, str],
    policy: RetryPolicy,
    watch: Any,
    streamed: Streamed,
) -> Streamed:
    """One completion streamed from the first endpoint that serves it to its end or to its abort, into `streamed`
    (what arrived so far, for a caller that cancels it); `watch()` makes a fresh judge per attempt. Retried as a
    whole request as `post_with_retries` does (a stream that breaks off is sampled again from its start, and the
    tokens it had are counted as spent)."""
    endpoint: Endpoint | None = None
    for attempt in range(policy.max_retries + 1):
        answer: httpx.Response | None = None  # a retryable answer (its Retry-After counts)
        async with fleet.slot(avoid=endpoint) as endpoint:
            try:
                with clients.lease() as client:
                    async with client.stream("POST", endpoint.url, json=body, headers=headers) as response:
                        if response.status_code == 200:
                            streamed.restart()
                            if response.headers.get("content-type", "").startswith("application/json"):
                                answer_read, problem = whole_answer(await response.aread())  # it does not stream
                                if answer_read is None:
                                    raise Dropped(problem)
                                streamed.take_whole(answer_read)
                            else:
                                await _read(response, watch(), streamed, policy.timeout_s)
                            endpoint.failures = 0
                            endpoint.requests += 1
                            endpoint.sequences += 1
                            return streamed
                        await response.aread()
                        if response.status_code not in RETRYABLE_STATUS:
                            raise SamplerError(refusal(endpoint.url, response, body))
                        problem = f"HTTP {response.status_code}"
                        answer = response
            except httpx.TimeoutException:
                problem = f"timed out after {policy.timeout_s:g}s"
            except httpx.TransportError as error:
                problem = f"connection failed ({type(error).__name__}: {error})"
            except Dropped as error:
                problem = str(error)
        await retry_or_raise(fleet, endpoint, problem, attempt, policy, answer)
    raise AssertionError("unreachable")
