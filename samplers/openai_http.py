"""Any OpenAI-compatible `/v1/chat/completions` server: `vllm serve`, SGLang, hosted APIs.

Requests run concurrently up to a bound; 429, 5xx, timeouts and dropped connections are retried with
exponential backoff and jitter (honouring Retry-After), then fail with the endpoint and status named.
"""

import asyncio
import email.utils
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cotfactory.samplers.base import Completion, PromptTemplate, SamplerError, SamplingParams
from cotfactory.storage import PromptRecord

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIHttpConfig(BaseModel):
    """Where the server is and how hard to push it. The API key is read from the environment variable
    named by `api_key_env`, never from the config file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1")
    model: str
    api_key_env: str | None = None
    max_concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(600.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    template_opens_think: bool = False
    template: PromptTemplate = PromptTemplate()
    extra_body: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_config(cls, values: Any) -> Any:
        if isinstance(values, dict) and "api_key" in values:
            raise ValueError("api_key: do not put keys in config files; set api_key_env to an environment variable")
        return values

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


def _retry_after(response: httpx.Response) -> float | None:
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


class _NRejected(Exception):
    """The server refused n > 1 in one request."""


class OpenAIHttpSampler:
    """A Sampler over an OpenAI-compatible chat completions endpoint."""

    def __init__(self, config: OpenAIHttpConfig) -> None:
        self.config = config
        self._headers = {"Content-Type": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise SamplerError(f"environment variable {config.api_key_env} (api_key_env) is not set")
            self._headers["Authorization"] = f"Bearer {key}"
        self._n_supported = True

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIHttpSampler({self.config.url!r}, model={self.config.model!r})"

    def _body(self, prompt: PromptRecord, params: SamplingParams, n: int, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": self.config.template.messages(prompt.problem),
            "n": n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "seed": seed,
        }
        if params.stop:
            body["stop"] = params.stop
        if params.presence_penalty:
            body["presence_penalty"] = params.presence_penalty
        # vLLM extensions, sent only when asked for: hosted APIs may reject unknown fields.
        if params.top_k is not None:
            body["top_k"] = params.top_k
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty
        return {**body, **self.config.extra_body}

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.backoff_max_s)
        delay = min(self.config.backoff_base_s * 2**attempt, self.config.backoff_max_s)
        return delay * (0.5 + random.random())

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
        url = self.config.url
        for attempt in range(self.config.max_retries + 1):
            retry_after = None
            try:
                response = await client.post(url, json=body, headers=self._headers)
            except httpx.TimeoutException:
                problem = f"timed out after {self.config.timeout_s:g}s"
            except httpx.TransportError as error:
                problem = f"connection failed ({type(error).__name__}: {error})"
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code == 400 and body.get("n", 1) > 1:
                    raise _NRejected(response.text[:300])
                if response.status_code not in RETRYABLE_STATUS:
                    raise SamplerError(f"{url} answered HTTP {response.status_code}: {response.text[:500]}")
                problem = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            if attempt == self.config.max_retries:
                raise SamplerError(f"{url} failed after {attempt + 1} attempts, last: {problem}")
            delay = self._backoff(attempt, retry_after)
            log.warning("%s: %s; retry %d/%d in %.1fs", url, problem, attempt + 1, self.config.max_retries, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _completions(self, response: dict[str, Any], seed: int) -> list[Completion]:
        usage = response.get("usage") or {}
        choices = sorted(response.get("choices", []), key=lambda choice: choice.get("index", 0))
        single = len(choices) == 1
        completions = []
        for position, choice in enumerate(choices):
            message = choice.get("message") or {}
            completions.append(
                Completion(
                    text=message.get("content") or "",
                    reasoning=message.get("reasoning_content") or message.get("reasoning"),
                    finish_reason=choice.get("finish_reason"),
                    prompt_tokens=usage.get("prompt_tokens"),
                    # usage covers all choices of a request: per-choice counts only when there is one
                    completion_tokens=usage.get("completion_tokens") if single else None,
                    seed=seed,
                    opened_by_template=self.config.template_opens_think,
                    request_tokens=usage.get("completion_tokens") if not single and position == 0 else None,
                )
            )
        return completions

    async def _sample_prompt(
        self, client: httpx.AsyncClient, limit: asyncio.Semaphore, prompt: PromptRecord, params: SamplingParams
    ) -> list[Completion]:
        seed = params.seed_for(prompt.prompt_id)
        if self._n_supported or params.n == 1:
            try:
                async with limit:
                    response = await self._post(client, self._body(prompt, params, params.n, seed))
                return self._completions(response, seed)
            except _NRejected as rejected:
                log.warning("%s rejected n=%d (%s); sending n separate requests", self.config.url, params.n, rejected)
                self._n_supported = False

        async def one(index: int) -> list[Completion]:
            async with limit:
                response = await self._post(client, self._body(prompt, params, 1, seed + index))
            return self._completions(response, seed + index)

        singles = await asyncio.gather(*(one(index) for index in range(params.n)))
        return [completion for single in singles for completion in single]

    async def agenerate(self, prompts: Sequence[PromptRecord], params: SamplingParams) -> list[list[Completion]]:
        """`generate` for callers that already run an event loop."""
        limit = asyncio.Semaphore(self.config.max_concurrency)
        connections = httpx.Limits(max_connections=self.config.max_concurrency)
        async with httpx.AsyncClient(timeout=self.config.timeout_s, limits=connections) as client:
            return list(await asyncio.gather(*(self._sample_prompt(client, limit, p, params) for p in prompts)))

    def generate(self, prompts: Sequence[PromptRecord], params: SamplingParams) -> list[list[Completion]]:
        """`params.n` completions per prompt, in prompt order."""
        return asyncio.run(self.agenerate(prompts, params))
