"""The terminal side of a run: a live progress bar and the funnel table at the end."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cotfactory.flows.generate import RunProgress
from cotfactory.flows.run_state import FunnelRow


class ProgressBar:
    """Prompts done of total, samples, accepted, pass rate, output tokens/s and ETA, updated per stored batch."""

    def __init__(self, console: Console) -> None:
        # Fits an 80-column terminal: round, bar, prompts done/total, samples, accepted (pass rate), tok/s, ETA.
        self._progress = Progress(
            TextColumn("[bold]r{task.fields[round]}"),
            BarColumn(bar_width=5),
            MofNCompleteColumn(),
            TextColumn(
                "prompts {task.fields[samples]:,} samples {task.fields[accepted]:,} ok "
                "{task.fields[pass_rate]:.0%} {task.fields[tokens_per_s]:,.0f} tok/s"
            ),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(
            "run", total=None, round=0, samples=0, accepted=0, pass_rate=0.0, tokens_per_s=0.0
        )

    def __enter__(self) -> "ProgressBar":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, progress: RunProgress) -> None:
        self._progress.update(
            self._task,
            total=progress.prompts_total,
            completed=progress.prompts_finished,
            round=progress.round,
            samples=progress.samples,
            accepted=progress.accepted,
            pass_rate=progress.pass_rate,
            tokens_per_s=progress.tokens_per_s,
        )


def funnel_table(run_id: str, funnel: list[FunnelRow]) -> Table:
    """Every sample of the run by outcome: accepted, or the first check that rejected it and why."""
    table = Table(title=f"funnel of run {run_id}")
    table.add_column("check")
    table.add_column("reason")
    table.add_column("samples", justify="right")
    table.add_column("share", justify="right")
    for row in funnel:
        table.add_row(row.check_name, row.reason, f"{row.samples:,}", f"{row.share:.1%}")
    table.add_row("total", "", f"{sum(row.samples for row in funnel):,}", "100.0%" if funnel else "", style="bold")
    return table


@contextmanager
def stop_on_interrupt(console: Console) -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event (the run stops after the batch in flight is stored); a second one
    interrupts at once."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("[yellow]stopping after the samples in flight are stored (Ctrl-C again to abort now)")

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
