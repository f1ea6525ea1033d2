"""The servers of an HTTP sampler: each one's load, health and counts, and the fleet that picks one for each
request and sets a failing one aside."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cotfactory.samplers.base import SamplerError

log = logging.getLogger("cotfactory.samplers.openai_http")


class Endpoint:
    """One server of the fleet: its load, its health and what it has done."""

    def __init__(self, url: str, concurrency: int) -> None:
        self.url = url
        self.concurrency = concurrency
        self.outstanding = 0  # sequences sent or waiting for a request slot here
        self.failures = 0  # in a row
        self.failed = 0  # in all
        self.set_aside_until = 0.0
        self.last_error = "no request yet"
        self.requests = 0
        self.sequences = 0
        self._limit: asyncio.Semaphore | None = None

    @property
    def limit(self) -> asyncio.Semaphore:
        # made in the event loop that uses it (each `generate` call runs its own)
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.concurrency)
        return self._limit

    def healthy(self, now: float) -> bool:
        return now >= self.set_aside_until


class Fleet:
    """The endpoints of one sampler. A request goes to the healthy endpoint with the fewest outstanding
    sequences; one that fails `failures_to_set_aside` times in a row is set aside for `cooldown_s`."""

    def __init__(self, urls: list[str], concurrency: int, failures_to_set_aside: int, cooldown_s: float) -> None:
        self.endpoints = [Endpoint(url, concurrency) for url in urls]
        self.failures_to_set_aside = failures_to_set_aside
        self.cooldown_s = cooldown_s

    def counts(self) -> dict[str, dict[str, int | str]]:
        """Per endpoint: requests answered, sequences received, failed requests, set aside now, last error."""
        now = time.monotonic()
        return {
            e.url: {"requests": e.requests, "sequences": e.sequences, "failures": e.failed,
                    "set_aside": int(not e.healthy(now)), "last_error": e.last_error}
            for e in self.endpoints
        }  # fmt: skip

    def pick(self, avoid: Endpoint | None) -> Endpoint:
        """The healthy endpoint with the fewest outstanding sequences (another than `avoid` when there is one);
        SamplerError naming each endpoint with its last error when none is healthy."""
        now = time.monotonic()
        healthy = [e for e in self.endpoints if e.healthy(now)]
        if not healthy:
            down = "; ".join(f"{e.url} (last: {e.last_error})" for e in self.endpoints)
            raise SamplerError(f"every endpoint is down: {down}")
        others = [e for e in healthy if e is not avoid] or healthy
        return min(others, key=lambda e: (e.outstanding, e.requests))

    @asynccontextmanager
    async def slot(self, avoid: Endpoint | None = None) -> AsyncIterator[Endpoint]:
        """A request slot on the endpoint `pick` chooses, held for one request. A request that waited for a slot
        while its endpoint was set aside (a hung server's requests time out one after another) goes to another
        healthy endpoint instead of being sent where it would wait out its timeout again."""
        while True:
            endpoint = self.pick(avoid)
            endpoint.outstanding += 1
            try:
                await endpoint.limit.acquire()
            except BaseException:
                endpoint.outstanding -= 1
                raise
            if endpoint.healthy(time.monotonic()) or not self.others_healthy(endpoint):
                break
            endpoint.limit.release()
            endpoint.outstanding -= 1
        try:
            yield endpoint
        finally:
            endpoint.limit.release()
            endpoint.outstanding -= 1

    def others_healthy(self, endpoint: Endpoint) -> bool:
        now = time.monotonic()
        return any(e is not endpoint and e.healthy(now) for e in self.endpoints)

    def failed(self, endpoint: Endpoint, problem: str) -> None:
        endpoint.failures += 1
        endpoint.failed += 1
        endpoint.last_error = problem
        if (
            len(self.endpoints) > 1
            and endpoint.failures >= self.failures_to_set_aside
            and endpoint.healthy(time.monotonic())  # requests in flight there fail too: set it aside once
        ):
            endpoint.set_aside_until = time.monotonic() + self.cooldown_s
            endpoint.failures = self.failures_to_set_aside - 1  # after the cooldown, one more failure sets it aside
            log.warning("%s set aside for %.0fs after repeated failures (last: %s)", endpoint.url, self.cooldown_s,
                        problem)  # fmt: skip
