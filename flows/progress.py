"""The terminal side of a run: a live progress bar, and the funnel and cost tables at the end."""

import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cotfactory.flows.generate import RunProgress
from cotfactory.storage.funnel import FunnelRow
from cotfactory.storage.run_cost import RunCost


class _WithEndpoints(Progress):
    """The bar, and below it a line per server of an HTTP sampler: what it answered and whether it is set aside."""

    def __init__(self, *columns: Any, **options: Any) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}  # rendered from the first frame on
        super().__init__(*columns, **options)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        if self.endpoints:
            yield endpoints_table(self.endpoints)


def endpoints_table(endpoints: dict[str, dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
    for name in ("endpoint", "requests", "sequences", "failures", "state"):
        table.add_column(name, justify="left" if name in ("endpoint", "state") else "right", overflow="ellipsis")
    for url, counts in endpoints.items():
        state = f"set aside: {counts['last_error']}" if counts["set_aside"] else "up"
        table.add_row(url, f"{counts['requests']:,}", f"{counts['sequences']:,}", f"{counts['failures']:,}", state)
    return table


class ProgressBar:
    """Prompts done of total, samples, accepted, pass rate, output tokens/s and ETA, updated per stored batch."""

    def __init__(self, console: Console) -> None:
        # Fits an 80-column terminal: round, bar, prompts done/total, samples, accepted (pass rate), tok/s, ETA.
        self._progress = _WithEndpoints(
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
        self._progress.endpoints = progress.endpoints


def _tokens(count: int | None) -> str:
    return "∅" if count is None else f"{count:,}"


def funnel_table(run_id: str, funnel: list[FunnelRow]) -> Table:
    """Every sample of the run by outcome: accepted, or the first check that rejected it and why, with the tokens
    its samples generated."""
    table = Table(title=f"funnel of run {run_id}")
    table.add_column("check")
    table.add_column("reason")
    table.add_column("samples", justify="right")
    table.add_column("share", justify="right")
    table.add_column("tokens", justify="right")
    for row in funnel:
        tokens = _tokens(row.generated_tokens)
        table.add_row(row.check_name, row.reason, f"{row.samples:,}", f"{row.share:.1%}", tokens)
    counted = [row.generated_tokens for row in funnel if row.generated_tokens is not None]
    table.add_row(
        "total", "", f"{sum(row.samples for row in funnel):,}", "100.0%" if funnel else "",
        _tokens(sum(counted) if counted else None), style="bold",
    )  # fmt: skip
    return table


def cost_table(cost: RunCost) -> Table:
    """What the run generated and what that bought: GPU tokens per accepted trace first."""
    table = Table(title=f"cost of run {cost.run_id}", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in cost.figures():
        table.add_row(name, value, style="bold" if name == "GPU tokens per accepted trace" else None)
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
