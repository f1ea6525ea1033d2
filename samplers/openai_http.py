"""Any OpenAI-compatible `/v1/chat/completions` server, or a fleet of them: `vllm serve`, SGLang, hosted APIs.

Each request goes to the endpoint with the fewest outstanding sequences, up to `max_concurrency` requests per
endpoint. 429, 5xx, timeouts and dropped connections are retried, on another endpoint when one is healthy,
else with exponential backoff and jitter (honouring Retry-After). An endpoint that fails `endpoint_failures`
times in a row is set aside for `endpoint_cooldown_s`, then tried again. A request fails after its retries, or
when every endpoint is set aside, naming each endpoint with its last error.
"""

import asyncio
import email.utils
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cotfactory.samplers.base import Completion, PromptTemplate, SamplerError, SamplingParams
from cotfactory.samplers.endpoints import Endpoint, Fleet
from cotfactory.samplers.units import Done, Unit, UnitQueue
from cotfactory.storage import PromptRecord

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIHttpConfig(BaseModel):
    """Where the server is and how hard to push it. The API key is read from the environment variable
    named by `api_key_env`, never from the config file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000/v1")
    base_urls: list[str] = Field(default_factory=list, description="A fleet of endpoints serving the same model")
    model: str
    api_key_env: str | None = None
    max_concurrency: int = Field(16, ge=1, description="Requests in flight per endpoint")
    endpoint_failures: int = Field(3, ge=1, description="Failures in a row that set an endpoint aside")
    endpoint_cooldown_s: float = Field(30.0, ge=0, description="How long a failing endpoint is set aside")
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

    @model_validator(mode="after")
    def _one_way_to_name_endpoints(self) -> "OpenAIHttpConfig":
        if (self.base_url is None) == (not self.base_urls):
            raise ValueError("set base_url (one endpoint) or base_urls (a fleet), not both or neither")
        if len(set(self.urls)) != len(self.urls):
            raise ValueError("base_urls names an endpoint twice")
        return self

    @property
    def urls(self) -> list[str]:
        """The chat completions URL of every endpoint."""
        return [
            url.rstrip("/") + "/chat/completions" for url in ([self.base_url] if self.base_url else self.base_urls)
        ]

    @property
    def url(self) -> str:
        return ", ".join(self.urls)


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
    """A Sampler over one or many OpenAI-compatible chat completions endpoints."""

    def __init__(self, config: OpenAIHttpConfig) -> None:
        self.config = config
        self._headers = {"Content-Type": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise SamplerError(f"environment variable {config.api_key_env} (api_key_env) is not set")
            self._headers["Authorization"] = f"Bearer {key}"
        self._n_supported = True
        self.fleet = Fleet(config.urls, config.max_concurrency, config.endpoint_failures, config.endpoint_cooldown_s)
        self.endpoints = self.fleet.endpoints

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIHttpSampler({self.config.url!r}, model={self.config.model!r})"

    def endpoint_counts(self) -> dict[str, dict[str, int | str]]:
        """Per endpoint: requests answered, sequences received, failed requests, set aside now, last error."""
        return self.fleet.counts()

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
        sequences = int(body.get("n", 1))
        endpoint: Endpoint | None = None
        for attempt in range(self.config.max_retries + 1):
            endpoint = self.fleet.pick(avoid=endpoint)  # a retry goes to another endpoint when one is healthy
            retry_after = None
            endpoint.outstanding += sequences
            try:
                async with endpoint.limit:
                    response = await client.post(endpoint.url, json=body, headers=self._headers)
            except httpx.TimeoutException:
                problem = f"timed out after {self.config.timeout_s:g}s"
            except httpx.TransportError as error:
                problem = f"connection failed ({type(error).__name__}: {error})"
            else:
                if response.status_code == 200:
                    endpoint.failures = 0
                    endpoint.requests += 1
                    endpoint.sequences += sequences
                    return response.json()
                if response.status_code == 400 and sequences > 1:
                    raise _NRejected(response.text[:300])
                if response.status_code not in RETRYABLE_STATUS:
                    raise SamplerError(f"{endpoint.url} answered HTTP {response.status_code}: {response.text[:500]}")
                problem = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            finally:
                endpoint.outstanding -= sequences
            self.fleet.failed(endpoint, problem)
            if attempt == self.config.max_retries:
                raise SamplerError(f"{endpoint.url} failed after {attempt + 1} attempts, last: {problem}")
            # Another healthy endpoint takes the retry at once; the same one only after a backoff.
            if self.fleet.others_healthy(endpoint) and retry_after is None:
                log.warning("%s: %s; retry %d/%d on another endpoint", endpoint.url, problem, attempt + 1,
                            self.config.max_retries)  # fmt: skip
                continue
            delay = self._backoff(attempt, retry_after)
            log.warning(
                "%s: %s; retry %d/%d in %.1fs", endpoint.url, problem, attempt + 1, self.config.max_retries, delay
            )
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
        self, client: httpx.AsyncClient, prompt: PromptRecord, params: SamplingParams
    ) -> list[Completion]:
        seed = params.seed_for(prompt.prompt_id)
        if self._n_supported or params.n == 1:
            try:
                response = await self._post(client, self._body(prompt, params, params.n, seed))
                return self._completions(response, seed)
            except _NRejected as rejected:
                log.warning("%s rejected n=%d (%s); sending n separate requests", self.config.url, params.n, rejected)
                self._n_supported = False

        async def one(index: int) -> list[Completion]:
            response = await self._post(client, self._body(prompt, params, 1, seed + index))
            return self._completions(response, seed + index)

        singles = await asyncio.gather(*(one(index) for index in range(params.n)))
        return [completion for single in singles for completion in single]

    def _client(self) -> httpx.AsyncClient:
        for endpoint in self.endpoints:
            endpoint._limit = None  # semaphores belong to the event loop that runs this call
        connections = httpx.Limits(max_connections=self.config.max_concurrency * len(self.endpoints))
        return httpx.AsyncClient(timeout=self.config.timeout_s, limits=connections)

    async def agenerate(self, prompts: Sequence[PromptRecord], params: SamplingParams) -> list[list[Completion]]:
        """`generate` for callers that already run an event loop."""
        async with self._client() as client:
            return list(await asyncio.gather(*(self._sample_prompt(client, p, params) for p in prompts)))

    def generate(self, prompts: Sequence[PromptRecord], params: SamplingParams) -> list[list[Completion]]:
        """`params.n` completions per prompt, in prompt order."""
        return asyncio.run(self.agenerate(prompts, params))

    def stream(self, units: UnitQueue, done: Done) -> None:
        """Sample units as they come, keeping every endpoint's request slots full until the queue is done; each
        unit is reported the moment its request answers. A unit that fails ends the stream with its error,
        after the requests in flight are answered."""
        asyncio.run(self._stream(units, done))

    async def _stream(self, units: UnitQueue, done: Done) -> None:
        loop = asyncio.get_running_loop()
        capacity = asyncio.Semaphore(self.config.max_concurrency * len(self.endpoints))
        in_flight: set[asyncio.Task[list[Completion]]] = set()
        failures: list[BaseException] = []
        # One thread waits on the queue, so the event loop never blocks on it.
        with ThreadPoolExecutor(1, thread_name_prefix="cotfactory-units") as waiter:
            async with self._client() as client:
                while not failures:
                    await capacity.acquire()
                    unit = await loop.run_in_executor(waiter, units.get)
                    if unit is None:
                        capacity.release()
                        break
                    task = asyncio.create_task(self._sample_prompt(client, unit.prompt, unit.params))
                    in_flight.add(task)

                    def finished(task: asyncio.Task[list[Completion]], unit: Unit = unit) -> None:
                        capacity.release()
                        in_flight.discard(task)
                        if task.cancelled():
                            return
                        if (error := task.exception()) is not None:
                            failures.append(error)
                            units.close()  # hand out nothing more; what is in flight still lands
                            return
                        done(unit, task.result())

                    task.add_done_callback(finished)
                if in_flight:
                    await asyncio.wait(set(in_flight))
        if failures:
            raise failures[0]
