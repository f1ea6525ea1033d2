"""One server of an HTTP sampler's fleet: its load, its health and what it has done."""

import asyncio


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
