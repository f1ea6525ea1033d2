"""Units from the blocking unit queue to an async sampler: as many requests in flight as it has slots, each unit
reported the moment its own request answers."""

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cotfactory.samplers.base import Completion, SampleRequest
from cotfactory.samplers.units import Done, Unit, UnitQueue


async def drive_units(
    units: UnitQueue, done: Done, sample: Callable[[SampleRequest], Coroutine[Any, Any, list[Completion]]], slots: int
) -> None:
    """`sample` every unit the queue hands out, at most `slots` at once, until the queue is done. A unit that
    fails closes the queue and ends the drive with its error, after the requests in flight are answered."""
    loop = asyncio.get_running_loop()
    capacity = asyncio.Semaphore(slots)
    in_flight: set[asyncio.Task[list[Completion]]] = set()
    failures: list[BaseException] = []
    # One thread waits on the queue, so the event loop never blocks on it.
    with ThreadPoolExecutor(1, thread_name_prefix="cotfactory-units") as waiter:
        while not failures:
            await capacity.acquire()
            unit = await loop.run_in_executor(waiter, units.get)
            if unit is None:
                capacity.release()
                break
            task = asyncio.create_task(sample(unit.request))
            in_flight.add(task)

            def finished(task: asyncio.Task[list[Completion]], unit: Unit[Any] = unit) -> None:
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
