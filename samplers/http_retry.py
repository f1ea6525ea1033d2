"""One HTTP request over a fleet of endpoints, retried: 429, 5xx, timeouts and dropped connections go to another
healthy endpoint at once, or to the same one after exponential backoff with jitter (honouring Retry-After)."""

import asyncio
import email.utils
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cotfactory.samplers.base import SamplerError
from cotfactory.samplers.endpoints import Endpoint, Fleet
from cotfactory.samplers.http_clients import ClientPool

log = logging.getLogger("cotfactory.samplers.openai_http")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often a request is tried and how long to wait between tries on the same endpoint."""

    max_retries: int
    backoff_base_s: float
    backoff_max_s: float
    timeout_s: float

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After (capped), else base * 2^attempt (capped) with jitter of -50% to +50%."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s)
        delay = min(self.backoff_base_s * 2**attempt, self.backoff_max_s)
        return delay * (0.5 + random.random())


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait (delta-seconds or an HTTP date); None when absent or malformed, so the
    usual backoff applies: a bad header must not turn a retry into a failure."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


async def post_with_retries(
    clients: ClientPool, fleet: Fleet, body: dict[str, Any], headers: dict[str, str], policy: RetryPolicy
) -> dict[str, Any]:
    """The JSON answer of the first endpoint that answers 200 with a completion; SamplerError after
    `policy.max_retries` retries, on a status that is not worth retrying, or when every endpoint is set aside."""
    endpoint: Endpoint | None = None
    for attempt in range(policy.max_retries + 1):
        answer: httpx.Response | None = None  # a retryable answer (its Retry-After counts)
        async with fleet.slot(avoid=endpoint) as endpoint:  # a retry goes to another endpoint when one is healthy
            try:
                with clients.lease() as client:
                    response = await client.post(endpoint.url, json=body, headers=headers)
            except httpx.TimeoutException:
                problem = f"timed out after {policy.timeout_s:g}s"
            except httpx.TransportError as error:
                problem = f"connection failed ({type(error).__name__}: {error})"
            else:
                if response.status_code == 200:
                    result, problem = whole_answer(response.content)
                    if result is not None:
                        endpoint.failures = 0
                        endpoint.requests += 1
                        endpoint.sequences += 1
                        return result
                elif response.status_code not in RETRYABLE_STATUS:
                    raise SamplerError(refusal(endpoint.url, response, body))
                else:
                    problem = f"HTTP {response.status_code}"
                    answer = response
        await retry_or_raise(fleet, endpoint, problem, attempt, policy, answer)
    raise AssertionError("unreachable")


# Finish reasons with which a server reports that it, not the model, ended the sequence: sampled again.
SERVER_ENDED = frozenset({"abort", "error"})


def whole_answer(content: bytes) -> tuple[dict[str, Any] | None, str]:
    """A 200 answer of a chat completion read whole: (the answer, "") or (None, what is wrong with it). A body that
    is no JSON object, carries an error and no choices, or whose sequence the server ended itself (finish reason
    `abort`, `error`) is a failed request, retried like a 5xx."""
    try:
        answer = json.loads(content)
    except ValueError:
        return None, f"answered 200 with a body that is not JSON: {content[:200]!r}"
    if not isinstance(answer, dict):
        return None, f"answered 200 with JSON that is not an object: {content[:200]!r}"
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        said = answer.get("error", answer)
        return None, f"answered 200 without a completion: {json.dumps(said, default=str)[:300]}"
    for choice in choices:
        if choice.get("finish_reason") in SERVER_ENDED:
            return None, f"the server ended the sequence itself (finish reason {choice['finish_reason']!r})"
        message = choice.get("message") or {}
        if not isinstance(message, dict) or not all(
            isinstance(message.get(key), str | None) for key in ("content", "reasoning_content", "reasoning")
        ):
            return None, f"answered 200 with a malformed message: {json.dumps(choice, default=str)[:300]}"
    usage = answer.get("usage")
    try:
        if usage is not None:
            token_count(usage.get("prompt_tokens"))
            token_count(usage.get("completion_tokens"))
    except (AttributeError, ValueError):
        return None, f"answered 200 with malformed usage: {json.dumps(usage, default=str)[:300]}"
    return answer, ""


def token_count(value: Any) -> int | None:
    """A server's token count: a whole number >= 0, or None when absent; ValueError for anything else."""
    if value is None:
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if isinstance(value, bool) or not whole or not 0 <= value < 2**31:
        raise ValueError(f"not a token count: {str(value)[:50]!r}")
    return int(value)


async def retry_or_raise(
    fleet: Fleet, endpoint: Endpoint, problem: str, attempt: int, policy: RetryPolicy, answer: httpx.Response | None
) -> None:
    """After a failed try on `endpoint`: SamplerError when it was the last, else wait before the next one (no
    wait when another healthy endpoint takes it and the server named no Retry-After)."""
    fleet.failed(endpoint, problem)
    if attempt == policy.max_retries:
        raise SamplerError(f"{endpoint.url} failed after {attempt + 1} attempts, last: {problem}")
    waited_for = retry_after(answer) if answer is not None else None
    if fleet.others_healthy(endpoint) and waited_for is None:
        log.warning("%s: %s; retry %d/%d on another endpoint", endpoint.url, problem, attempt + 1,
                    policy.max_retries)  # fmt: skip
        return
    delay = policy.backoff(attempt, waited_for)
    log.warning("%s: %s; retry %d/%d in %.1fs", endpoint.url, problem, attempt + 1, policy.max_retries, delay)
    await asyncio.sleep(delay)


def refusal(url: str, response: httpx.Response, body: dict[str, Any]) -> str:
    """What a server's refusal of a request says, naming the setting a server other than vLLM may not take."""
    said = f"{url} answered HTTP {response.status_code}: {response.text[:500]}"
    if response.status_code not in (400, 422):
        return said
    hints = []
    if "repetition_detection" in body:
        hints.append(
            "`repetition_detection` (vLLM's loop detection, on by default): set `[sampling] repetition_detection "
            "= false` for this server"
        )
    if "continuous_usage_stats" in body.get("stream_options", {}):
        hints.append("`stream_options.continuous_usage_stats` (vLLM's): set `[sampler] continuous_usage = false`")
    if hints:
        return f"{said}. The request carried fields a server other than vLLM may refuse: {'; '.join(hints)}"
    return said
