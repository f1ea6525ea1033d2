"""One completion streamed from an OpenAI-compatible server (`stream: true`, server-sent events), watched as it
arrives and cut off the moment its judge finds it doomed: closing the connection makes vLLM abort the request,
so no more of its tokens are generated. Tokens are the server's own count (vLLM's continuous usage stats),
or one per chunk of text when the server sends none."""

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from cotfactory.samplers.base import ABORTED, SamplerError, StreamWatch
from cotfactory.samplers.endpoints import Endpoint, Fleet
from cotfactory.samplers.http_retry import RETRYABLE_STATUS, RetryPolicy, refusal, retry_or_raise
from cotfactory.storage.text import storable

log = logging.getLogger("cotfactory.samplers.openai_http")


@dataclass
class Streamed:
    """What one stream brought: the text, the server's separate reasoning, how it ended and its tokens."""

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int = 0
    counted_by_server: bool = False


class _Dropped(Exception):
    """The stream broke off before its end (the connection dropped, or the server sent an error event)."""


def _take(streamed: Streamed, chunk: dict[str, Any], judge: StreamWatch | None) -> str | None:
    """Add one event's chunk; the check that dooms the sample, when the judge finds one."""
    if (error := chunk.get("error")) is not None:
        raise _Dropped(f"server error in the stream: {str(error)[:300]}")
    if usage := chunk.get("usage"):
        streamed.prompt_tokens = usage.get("prompt_tokens", streamed.prompt_tokens)
        if (tokens := usage.get("completion_tokens")) is not None:
            streamed.completion_tokens, streamed.counted_by_server = int(tokens), True
    text = reasoning = ""
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        # escaped as the store will hold it (lone surrogates), so the judge reads the text that is stored
        text += storable(delta.get("content") or "")
        reasoning += storable(delta.get("reasoning_content") or delta.get("reasoning") or "")
        streamed.finish_reason = choice.get("finish_reason") or streamed.finish_reason
    if (text or reasoning) and not streamed.counted_by_server:
        streamed.completion_tokens += 1  # one chunk, one token: what vLLM sends without usage stats
    streamed.text += text
    streamed.reasoning += reasoning
    if judge is None or not (text or reasoning):
        return None
    failure = judge.feed(text, reasoning, streamed.completion_tokens)
    return failure[0] if failure is not None else None


def _whole(answer: dict[str, Any], streamed: Streamed) -> None:
    """A whole response from a server that ignored `stream`: the sample as it ended, not watched."""
    usage = answer.get("usage") or {}
    choice = min(answer.get("choices") or [{}], key=lambda choice: choice.get("index", 0))
    message = choice.get("message") or {}
    streamed.text = message.get("content") or ""
    streamed.reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    streamed.finish_reason = choice.get("finish_reason")
    streamed.prompt_tokens = usage.get("prompt_tokens")
    streamed.completion_tokens = int(usage.get("completion_tokens") or 0)
    streamed.counted_by_server = "completion_tokens" in usage


async def _read(response: httpx.Response, judge: StreamWatch | None, streamed: Streamed) -> Streamed:
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # comments, event names, keep-alives
            data = line[5:].strip()
            if data == "[DONE]":
                return streamed
            if (check := _take(streamed, json.loads(data), judge)) is not None:
                streamed.finish_reason = f"{ABORTED}{check}"
                return streamed  # leaving the response unread closes the connection: the server aborts
    except (httpx.TransportError, json.JSONDecodeError) as error:
        raise _Dropped(f"the stream broke off ({type(error).__name__}: {error})") from error
    if streamed.finish_reason is None:
        raise _Dropped("the stream ended without a finish reason")
    return streamed


async def stream_with_retries(
    client: httpx.AsyncClient,
    fleet: Fleet,
    body: dict[str, Any],
    headers: dict[str, str],
    policy: RetryPolicy,
    watch: Any,
    streamed: Streamed,
) -> Streamed:
    """One completion streamed from the first endpoint that serves it to its end or to its abort, into `streamed`
    (what arrived so far, for a caller that cancels it); `watch()` makes a fresh judge per attempt. Retried as a
    whole request as `post_with_retries` does (a stream that breaks off is sampled again from its start)."""
    endpoint: Endpoint | None = None
    for attempt in range(policy.max_retries + 1):
        endpoint = fleet.pick(avoid=endpoint)
        answer: httpx.Response | None = None  # a retryable answer (its Retry-After counts)
        endpoint.outstanding += 1
        try:
            async with endpoint.limit, client.stream("POST", endpoint.url, json=body, headers=headers) as response:
                if response.status_code == 200:
                    streamed.__init__()  # type: ignore[misc]  # a retry starts the sample again
                    if response.headers.get("content-type", "").startswith("application/json"):
                        _whole(json.loads(await response.aread()), streamed)  # a server that does not stream
                    else:
                        await _read(response, watch(), streamed)
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
        except _Dropped as error:
            problem = str(error)
        finally:
            endpoint.outstanding -= 1
        await retry_or_raise(fleet, endpoint, problem, attempt, policy, answer)
    raise AssertionError("unreachable")
