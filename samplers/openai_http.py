"""Any OpenAI-compatible `/v1/chat/completions` server, or a fleet of them: `vllm serve`, SGLang, hosted APIs.

Every completion is its own request (`n = 1`, its own seed; the shared prompt is cached by the server's prefix
caching), streamed by default so that a sample doomed part way is aborted there (samplers/openai_stream.py).
Each request goes to the endpoint with the fewest outstanding sequences, up to `max_concurrency` requests per
endpoint. 429, 5xx, timeouts and dropped connections are retried, on another endpoint when one is healthy,
else with exponential backoff and jitter (honouring Retry-After; samplers/http_retry.py). An endpoint that fails
`endpoint_failures` times in a row is set aside for `endpoint_cooldown_s`, then tried again. A request fails
after its retries, or when every endpoint is set aside, naming each endpoint with its last error.
"""

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from cotfactory.samplers.async_units import drive_units
from cotfactory.samplers.base import (
    ABORTED,
    TARGET_MET,
    Completion,
    PromptTemplate,
    Sampler,
    SampleRequest,
    SamplerError,
    SamplerSettings,
)
from cotfactory.samplers.endpoints import Fleet
from cotfactory.samplers.http_clients import ClientPool
from cotfactory.samplers.http_retry import RetryPolicy, post_with_retries
from cotfactory.samplers.openai_stream import stream_with_retries
from cotfactory.samplers.stream_chunks import Streamed
from cotfactory.samplers.units import Done, UnitQueue

log = logging.getLogger(__name__)


class OpenAIHttpConfig(SamplerSettings):
    """Where the server is and how hard to push it. The API key is read from the environment variable
    named by `api_key_env`, never from the config file."""

    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000/v1")
    base_urls: list[str] = Field(default_factory=list, description="A fleet of endpoints serving the same model")
    api_key_env: str | None = None
    max_concurrency: int = Field(16, ge=1, description="Requests in flight per endpoint")
    endpoint_failures: int = Field(3, ge=1, description="Failures in a row that set an endpoint aside")
    endpoint_cooldown_s: float = Field(30.0, ge=0, description="How long a failing endpoint is set aside")
    timeout_s: float = Field(600.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    template_opens_think: bool = False
    stream: bool = Field(True, description="Server-sent events: each sample watched, and aborted once doomed")
    continuous_usage: bool = Field(True, description="Ask for vLLM's token count on every streamed chunk")
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

    def fleet(self) -> list[str]:
        return list(self.base_urls)

    def with_fleet(self, urls: list[str]) -> "OpenAIHttpConfig":
        return self.model_copy(update={"base_urls": urls})

    @property
    def urls(self) -> list[str]:
        """The chat completions URL of every endpoint."""
        return [
            url.rstrip("/") + "/chat/completions" for url in ([self.base_url] if self.base_url else self.base_urls)
        ]

    @property
    def url(self) -> str:
        return ", ".join(self.urls)


class OpenAIHttpSampler(Sampler):
    """A Sampler over one or many OpenAI-compatible chat completions endpoints."""

    def __init__(self, config: OpenAIHttpConfig) -> None:
        self.config = config
        self._headers = {"Content-Type": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise SamplerError(f"environment variable {config.api_key_env} (api_key_env) is not set")
            self._headers["Authorization"] = f"Bearer {key}"
        self.fleet = Fleet(config.urls, config.max_concurrency, config.endpoint_failures, config.endpoint_cooldown_s)
        self.endpoints = self.fleet.endpoints
        self._policy = RetryPolicy(config.max_retries, config.backoff_base_s, config.backoff_max_s, config.timeout_s)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIHttpSampler({self.config.url!r}, model={self.config.model!r})"

    def endpoint_counts(self) -> dict[str, dict[str, int | str]]:
        """Per endpoint: requests answered, sequences received, failed requests, set aside now, last error."""
        return self.fleet.counts()

    def _body(self, request: SampleRequest, seed: int) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": self.config.template.messages(request.problem),
            "n": 1,
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
        if params.repetition_detection is not None:
            body["repetition_detection"] = params.repetition_detection.model_dump()
        if self.config.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True} | (
                {"continuous_usage_stats": True} if self.config.continuous_usage else {}
            )
        return {**body, **self.config.extra_body}

    async def _sample(self, clients: ClientPool, request: SampleRequest) -> list[Completion]:
        """The round's `n` completions, one request each, all in flight at once. A sample that fails for good fails
        the round (its siblings are cancelled); once `request.settle` says the prompt has its target, the samples
        still running are stopped and kept as `aborted:target_met` with what they had."""
        progress = [Streamed() for _ in range(request.params.n)]

        async def one(index: int) -> Completion:
            seed, opened = request.seed_of(index), self.config.template_opens_think
            body = self._body(request, seed)
            if not self.config.stream:
                whole = Streamed()
                whole.take_whole(await post_with_retries(clients, self.fleet, body, self._headers, self._policy))
                return whole.completion(seed, opened)
            judge = lambda: request.judge(opened)  # noqa: E731
            streamed = await stream_with_retries(
                clients, self.fleet, body, self._headers, self._policy, judge, progress[index]
            )
            return streamed.completion(seed, opened)

        tasks = {asyncio.create_task(one(index)): index for index in range(request.params.n)}
        completions: dict[int, Completion] = {}
        pending = set(tasks)
        try:
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(finished, key=tasks.__getitem__):  # every ended sample is kept as it ended
                    completions[tasks[task]] = task.result()
                if request.settle is None or not pending:
                    continue
                for task in sorted(finished, key=tasks.__getitem__):
                    if await asyncio.to_thread(request.settle, completions[tasks[task]]):
                        await self._stop_at_target(tasks, pending, completions, progress, request)
                        pending = set()
                        break
        finally:  # a failed round: its samples still running are cancelled and waited for
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return [completions[index] for index in range(request.params.n)]

    async def _stop_at_target(
        self,
        tasks: dict["asyncio.Task[Completion]", int],
        pending: set["asyncio.Task[Completion]"],
        completions: dict[int, Completion],
        progress: list[Streamed],
        request: SampleRequest,
    ) -> None:
        """The prompt has its target: its samples still running are stopped and kept with what they had, as
        `aborted:target_met`; one that ended meanwhile is kept as it ended."""
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in pending:
            index = tasks[task]
            if not task.cancelled() and task.exception() is None:
                completions[index] = task.result()  # it ended before it could be stopped
                continue
            progress[index].finish_reason = f"{ABORTED}{TARGET_MET}"
            progress[index].carried.clear()
            completions[index] = progress[index].completion(request.seed_of(index), self.config.template_opens_think)

    def _clients(self) -> ClientPool:
        for endpoint in self.endpoints:
            endpoint._limit = None  # semaphores belong to the event loop that runs this call
        return ClientPool(self.config.max_concurrency * len(self.endpoints), self.config.timeout_s)

    async def agenerate(self, requests: Sequence[SampleRequest]) -> list[list[Completion]]:
        """`generate` for callers that already run an event loop."""
        async with self._clients() as clients:
            return list(await asyncio.gather(*(self._sample(clients, request) for request in requests)))

    def generate(self, requests: Sequence[SampleRequest]) -> list[list[Completion]]:
        """`params.n` completions per request, in request order."""
        return asyncio.run(self.agenerate(requests))

    def stream(self, units: UnitQueue, done: Done) -> None:
        """Sample units as they come, keeping every endpoint's request slots full until the queue is done; each
        unit is reported the moment its request answers. A unit that fails ends the stream with its error,
        after the requests in flight are answered."""
        asyncio.run(self._stream(units, done))

    async def _stream(self, units: UnitQueue, done: Done) -> None:
        async with self._clients() as clients:
            slots = self.config.max_concurrency * len(self.endpoints)
            await drive_units(units, done, lambda request: self._sample(clients, request), slots)
