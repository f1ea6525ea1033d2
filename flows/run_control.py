"""What a caller in the same process hands a run besides its parameters: a progress callback, a stop event and
an engine it already holds. A flow's parameters stay JSON (the config), so a deployment starts the same flow;
the terminal's `cotfactory run` installs these hooks around the call."""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cotfactory.samplers.base import Sampler

log = logging.getLogger(__name__)
LOG_EVERY_S = 30.0


@dataclass
class RunControl:
    """Hooks of one call of the flow in this process; none of them travels as a parameter."""

    on_progress: Callable[[Any], None] | None = None
    stop: threading.Event | None = None
    sampler: Sampler | None = None
    notice: Callable[[str], None] | None = None  # what the run must tell the terminal (Prefect's logs are quiet)

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()


# Process-wide rather than per thread: Prefect may run a flow in a thread of its own.
_installed: list[RunControl] = []


def current() -> RunControl:
    """The hooks installed by the caller, or none (a run started by a deployment or a worker)."""
    return _installed[-1] if _installed else RunControl()


@contextmanager
def controlling(
    on_progress: Callable[[Any], None] | None = None,
    stop: threading.Event | None = None,
    sampler: Sampler | None = None,
    notice: Callable[[str], None] | None = None,
) -> Iterator[RunControl]:
    """Install hooks for the flow runs this process starts while the block runs."""
    control = RunControl(on_progress, stop, sampler, notice)
    _installed.append(control)
    try:
        yield control
    finally:
        _installed.remove(control)


class ProgressLog:
    """The progress callback of a run without a terminal: one log line at most every `LOG_EVERY_S` seconds, and
    the last one, so a deployment's run shows where it stands in Prefect's UI."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter) -> None:
        self.logger = logger
        self.last = 0.0

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if now - self.last < LOG_EVERY_S and progress.prompts_finished < progress.prompts_total:
            return
        self.last = now
        self.logger.info(
            "run %s: %d/%d prompts done, %d samples, %d accepted",
            progress.run_id,
            progress.prompts_finished,
            progress.prompts_total,
            progress.samples,
            progress.accepted,
        )
