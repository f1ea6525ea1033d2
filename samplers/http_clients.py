"""HTTP clients for many requests in flight: several small connection pools, not one large one. httpcore's pool
matches each waiting request against each of its connections, so one pool of C connections spends O(C^2) per
request; at the hundreds of one-sample requests a run keeps in flight that was most of the sampler's time."""

from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from types import TracebackType

import httpx

POOL_CONNECTIONS = 32  # per client


class ClientPool:
    """Enough clients for `connections` requests at once. Each request leases the client with the fewest requests
    in flight when it is sent, so no request waits for a connection of a busy client while another has free ones
    (the wait would count against its timeout as if the server were slow)."""

    def __init__(self, connections: int, timeout_s: float) -> None:
        self.count = max(1, -(-connections // POOL_CONNECTIONS))
        self.timeout_s = timeout_s
        self._stack = AsyncExitStack()
        self._clients: list[httpx.AsyncClient] = []
        self._in_flight: list[int] = []

    async def __aenter__(self) -> "ClientPool":
        limits = httpx.Limits(max_connections=POOL_CONNECTIONS)
        self._clients = [
            await self._stack.enter_async_context(httpx.AsyncClient(timeout=self.timeout_s, limits=limits))
            for _ in range(self.count)
        ]
        self._in_flight = [0] * self.count
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """The least busy client, for one request (take it once the request may be sent)."""
        assert self._clients, "use the pool inside `async with`"
        index = min(range(self.count), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            yield self._clients[index]
        finally:
            self._in_flight[index] -= 1
