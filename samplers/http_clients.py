"""HTTP clients for many requests in flight: several small connection pools, not one large one. httpcore's pool
matches each waiting request against each of its connections, so one pool of C connections spends O(C^2) per
request; at the hundreds of one-sample requests a run keeps in flight that was most of the sampler's time."""

import itertools
from contextlib import AsyncExitStack
from types import TracebackType

import httpx

POOL_CONNECTIONS = 32  # per client


class ClientPool:
    """Enough clients for `connections` at once, handed out in turn."""

    def __init__(self, connections: int, timeout_s: float) -> None:
        self.count = max(1, -(-connections // POOL_CONNECTIONS))
        self.timeout_s = timeout_s
        self._stack = AsyncExitStack()
        self._turn: itertools.cycle[httpx.AsyncClient] | None = None

    async def __aenter__(self) -> "ClientPool":
        limits = httpx.Limits(max_connections=POOL_CONNECTIONS)
        clients = [
            await self._stack.enter_async_context(httpx.AsyncClient(timeout=self.timeout_s, limits=limits))
            for _ in range(self.count)
        ]
        self._turn = itertools.cycle(clients)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def next(self) -> httpx.AsyncClient:
        """The client for the next request."""
        assert self._turn is not None, "use the pool inside `async with`"
        return next(self._turn)
