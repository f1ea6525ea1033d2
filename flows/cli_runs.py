"""The `cotfactory` commands of a run's life: start or resume it, see where it stands, serve it on a schedule."""

import os
import sys
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cotfactory.flows.cli_options import DEFAULT_DB, DbOption
from cotfactory.flows.quiet import library_output_to, log_path_for
from cotfactory.flows.tables import print_frame
from cotfactory.storage import open_read_only, query
from cotfactory.storage.errors import CotfactoryError

if TYPE_CHECKING:
    from cotfactory.flows.config import RunConfig
    from cotfactory.flows.generate import RunSummary


def run_command(
    config: Annotated[Path, typer.Argument(help="A TOML run config (see examples/run.toml).")],
    db: Annotated[Path | None, typer.Option("--db", help="Use this store instead of the config's `db`.")] = None,
    verbose: Annotated[
        bool, typer.Option(help="Show Prefect's, vLLM's and other libraries' messages on the terminal.")
    ] = False,
    shards: Annotated[
        int | None, typer.Option(min=1, help="Split the run into this many shards ([cluster] shards).")
    ] = None,
    work_pool: Annotated[
        str | None, typer.Option(help="Run the shards as flow runs on this Prefect work pool ([cluster] work_pool).")
    ] = None,
) -> None:
    """Rejection sampling: sample, check and store until each prompt has its target of accepted samples or has
    used its rounds. Rerunning the same config continues where the store says the run stands. Ctrl-C stops
    after the batch in flight is stored. Engine and library warnings go to DB.log beside the store."""
    from cotfactory.flows.config import load_config

    run_config = load_config(config, db=db)  # every config problem is reported before any work starts
    cluster = run_config.cluster.model_copy(
        update={k: v for k, v in {"shards": shards, "work_pool": work_pool}.items() if v is not None}
    )
    if cluster.work_pool is not None:
        _run_sharded(run_config.model_copy(update={"cluster": cluster}))
        return
    if cluster.shards > 1:
        raise CotfactoryError("a sharded run needs a Prefect work pool: --work-pool POOL or [cluster] work_pool")
    # Prefect's temporary server reports usage, which fails with an ERROR line on machines offline
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The first start of Prefect's temporary server creates its database (20-40 s on 2 busy cores), longer
    # than Prefect's default wait of 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    log = log_path_for(Path(run_config.db))
    # the progress bar and the funnel say what matters; engine and library warnings go to the log file
    quiet = nullcontext(sys.stderr) if verbose else library_output_to(log)
    with quiet:
        summary = _run_with_progress(config, run_config)
    if not verbose and log.exists() and log.stat().st_size:
        typer.echo(f"engine and library messages: {log} (--verbose shows them here)", err=True)
    if summary.status == "cancelled":
        raise typer.Exit(130)


def _run_with_progress(config: Path, run_config: "RunConfig") -> "RunSummary":
    from rich.console import Console

    from cotfactory.flows.generate import generate
    from cotfactory.flows.progress import ProgressBar, cost_table, funnel_table, stop_on_interrupt
    from cotfactory.flows.run_control import controlling

    console = Console(stderr=True)
    console.print(f"run {run_config.run_id()} of {config} into {run_config.db} (starting {run_config.sampler.kind})")
    notice = partial(console.print, style="yellow", markup=False, highlight=False, soft_wrap=True)
    with (
        stop_on_interrupt(console) as stop,
        ProgressBar(console) as bar,
        controlling(on_progress=bar, stop=stop, notice=notice),
    ):
        # the flow's one parameter is the config as JSON: what a deployment of it passes too
        summary = generate(run_config.as_json())
    Console().print(funnel_table(summary.run_id, summary.funnel))
    Console().print(cost_table(summary.cost))
    progress = summary.progress
    console.print(
        f"run {summary.run_id} {summary.status}: {summary.samples:,} samples in the store, {summary.accepted:,} "
        f"accepted ({progress.stored_now:,} stored by this invocation); "
        f"{progress.prompts_finished:,}/{progress.prompts_total:,} prompts done"
    )
    return summary


def _run_sharded(run_config: "RunConfig") -> None:
    from prefect.settings import PREFECT_API_URL
    from rich.console import Console

    from cotfactory.flows.progress import ProgressBar
    from cotfactory.flows.shard_pool import run_sharded

    if not PREFECT_API_URL.value():  # a temporary server of this process is one no worker can reach
        raise CotfactoryError("a work pool needs a Prefect server: set PREFECT_API_URL (see `prefect server start`)")

    console, cluster = Console(stderr=True), run_config.cluster
    console.print(f"run {run_config.run_id()}: {cluster.shards} shards on work pool {cluster.work_pool!r}")
    with ProgressBar(console) as bar:  # counts every shard: the merged ones and the others' own stores
        result = run_sharded(run_config, on_state=lambda ref, state: console.print(f"shard {ref.shard}: {state}"),
                             on_progress=bar)  # fmt: skip
    console.print(f"run {result.run_id} {result.status}: {result.samples:,} samples, {result.accepted:,} accepted")
    console.print(
        f"report: {result.report}" if result.report else f"report not written: {result.report_error}", soft_wrap=True
    )
    for shard, why in sorted(result.failed.items()):
        console.print(
            f"shard {shard} of {cluster.shards} failed ({why}); rerun the command to resume it", soft_wrap=True
        )
    if result.failed:
        raise typer.Exit(1)


def status(
    run_id: Annotated[str | None, typer.Argument(help="A run id; default: every run, newest first.")] = None,
    db: DbOption = Path(DEFAULT_DB),
) -> None:
    """Where runs stand, read from the store: samples, accepted, rounds and, for one run, its rounds, its
    servers (an HTTP sampler's requests, sequences and failures per endpoint), its funnel with the tokens of each
    outcome, and its cost: GPU tokens per accepted trace, aborted samples and the tokens aborts saved."""
    import polars as pl

    from cotfactory.flows.run_state import ENDPOINTS_OF_RUN, ROUNDS_OF_RUN, RUNS_OVERVIEW
    from cotfactory.storage.funnel import funnel_frame, run_funnel
    from cotfactory.storage.run_cost import run_cost
    from cotfactory.storage.shard_records import SHARDS_OF_RUN

    if run_id is None:
        print_frame(query(RUNS_OVERVIEW + " ORDER BY r.started_at DESC", db), title="runs", max_rows=100)
        return
    overview = query(RUNS_OVERVIEW + " WHERE r.run_id = ?", db, params=[run_id])
    if overview.is_empty():
        raise CotfactoryError(f"{db} holds no run {run_id!r}; `cotfactory status` lists the runs")
    print_frame(overview, title=f"run {run_id}")
    print_frame(query(ROUNDS_OF_RUN, db, params=[run_id]), title="rounds", max_rows=100)
    shards = query(SHARDS_OF_RUN, db, params=[run_id])
    if not shards.is_empty():  # a run split over a work pool
        print_frame(shards, title="shards", max_rows=100)
    endpoints = query(ENDPOINTS_OF_RUN, db, params=[run_id])
    if not endpoints.is_empty():  # an HTTP sampler's servers
        print_frame(endpoints, title="servers", max_rows=100)
    with open_read_only(db) as con:
        funnel = run_funnel(con, run_id)
        cost = run_cost(con, run_id)
    print_frame(funnel_frame(funnel).with_columns(pl.col("share").round(4)), title="funnel", max_rows=100)
    figures = cost.figures()
    print_frame(pl.DataFrame({"figure": [n for n, _ in figures], "value": [v for _, v in figures]}), title="cost")


def schedule(
    config: Annotated[Path, typer.Argument(help="A TOML run config.")],
    cron: Annotated[str, typer.Option(help='A cron schedule, e.g. "0 2 * * *" for 02:00 every night.')],
    name: Annotated[str | None, typer.Option(help="Deployment name; default: the config's file name.")] = None,
    timezone: Annotated[str, typer.Option(help="Time zone of the cron schedule.")] = "UTC",
) -> None:
    """Serve the run as a Prefect deployment on a cron schedule. This process must keep running: it is the
    worker that runs the scheduled flows. Set PREFECT_API_URL to use a Prefect server (`prefect server start`)
    and see the runs in its UI."""
    from cotfactory.flows.config import load_config
    from cotfactory.flows.schedule import serve_on_schedule

    run_config = load_config(config)
    serve_on_schedule(run_config, cron=cron, name=name or config.stem, timezone=timezone)
