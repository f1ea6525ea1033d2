"""The `cotfactory` command: a thin layer over importable functions."""

import sys
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
import typer

from cotfactory.flows.cli_options import DEFAULT_DB, DbOption
from cotfactory.flows.cli_runs import run_command, schedule, status
from cotfactory.flows.cli_sets import curate_command, decontam_app, sets
from cotfactory.flows.import_prompts import import_prompts
from cotfactory.flows.tables import print_frame
from cotfactory.storage import Store, query
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.export import FILE_FORMATS, ROW_SHAPES, export_samples
from cotfactory.storage.input_rows import DEFAULT_MAX_LINE_BYTES, describe_bad_rows

app = typer.Typer(
    help="cotfactory: sample chains of thought, keep the good ones, store them in DuckDB, export SFT shards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("run")(run_command)
app.command()(status)
app.command()(schedule)
app.command("curate")(curate_command)
app.command()(sets)
app.add_typer(decontam_app, name="decontam")


@app.command("import-prompts")
def import_prompts_command(
    files: Annotated[list[Path], typer.Argument(help="JSONL (.jsonl, .jsonl.gz), CSV/TSV or Parquet prompt files.")],
    db: DbOption = Path(DEFAULT_DB),
    source: Annotated[
        str | None, typer.Option(help="Source name stored with each prompt; default: file name.")
    ] = None,
    problem_field: Annotated[
        str | None, typer.Option(help="Field holding the problem; default: problem, question, prompt or input.")
    ] = None,
    answer_field: Annotated[
        str | None,
        typer.Option(
            help="Field holding the reference; default: answer, final_answer, reference, expected_answer or solution."
        ),
    ] = None,
    domain: Annotated[
        Literal["math", "code", "choice", "general"] | None,
        typer.Option(help="Domain of the prompts; default: code for rows with tests, else math."),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Target language of the reasoning (en, zh, ...); default: detect.")
    ] = None,
    on_error: Annotated[
        Literal["fail", "quarantine"],
        typer.Option(
            help="On bad rows: import nothing, or import the rest and keep the bad rows in the quarantine table."
        ),
    ] = "fail",
    max_line_bytes: Annotated[int, typer.Option(help="Rows longer than this are bad rows.")] = DEFAULT_MAX_LINE_BYTES,
) -> None:
    """Import prompt files; re-importing the same prompts adds nothing."""
    report = import_prompts(
        Store(db),
        files,
        source=source,
        problem_field=problem_field,
        answer_field=answer_field,
        domain=domain,
        target_language=language,
        on_error=on_error,
        max_line_bytes=max_line_bytes,
    )
    if report.bad_rows:
        typer.echo(describe_bad_rows(report.bad_rows), err=True)
    typer.echo(f"{db}: {report.summary()}")


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(metavar="QUERY", help="One SQL query; the store is opened read-only.")],
    db: DbOption = Path(DEFAULT_DB),
    format: Annotated[
        Literal["table", "csv", "json", "ndjson", "parquet"], typer.Option(help="Output format.")
    ] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of the terminal.")] = None,
    max_rows: Annotated[int, typer.Option(help="Rows shown in table format on the terminal.")] = 50,
) -> None:
    """Ask the store a question in SQL (tables prompts, runs, completions, outcomes, verdicts, run_rounds, sets;
    views samples, accepted, funnel, prompt_stats)."""
    frame = query(statement, db)
    if format == "parquet" and out is None:
        raise CotfactoryError("--format parquet needs --out FILE")
    if format == "table" and out is None:
        print_frame(frame, max_rows=max_rows)
        return
    if format == "table":  # into a file: every row, at full width
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=1000, tbl_width_chars=100_000):
            text = str(frame)
    elif format == "csv":
        text = frame.write_csv()
    elif format == "json":
        text = frame.write_json() + "\n"
    elif format == "ndjson":
        text = frame.write_ndjson()
    else:
        frame.write_parquet(out)
        typer.echo(f"{out}: {frame.height:,} rows", err=True)
        return
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text if text.endswith("\n") else text + "\n")
        typer.echo(f"{out}: {frame.height:,} rows", err=True)


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="Folder for the shards, manifest.json and the dataset card README.md.")],
    set_ref: Annotated[
        str | None, typer.Option("--set", help="NAME or NAME@VERSION (default: latest version).")
    ] = None,
    run: Annotated[str | None, typer.Option(help="Export the accepted samples of this run.")] = None,
    db: DbOption = Path(DEFAULT_DB),
    format: Annotated[str, typer.Option(help=f"File format of the shards: {', '.join(FILE_FORMATS)}.")] = "jsonl",
    shape: Annotated[str, typer.Option(help=f"Row shape: {', '.join(ROW_SHAPES)}.")] = "messages",
    shard_rows: Annotated[int, typer.Option(help="At most this many rows per shard.")] = 100_000,
    shard_bytes: Annotated[int, typer.Option(help="At most this many bytes per shard.")] = 512 * 1024 * 1024,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier export in OUT.")] = False,
) -> None:
    """Export a set or a run's accepted samples as JSONL or Parquet shards for SFT (TRL, LLaMA-Factory), with a
    dataset card that `datasets.load_dataset(OUT)` and the Hugging Face Hub read."""
    if format in ROW_SHAPES:  # the spelling of row shapes before --shape
        raise CotfactoryError(f"--format is the file format ({', '.join(FILE_FORMATS)}); for rows: --shape {format}")
    manifest = export_samples(
        db,
        out,
        set_ref=set_ref,
        run_id=run,
        shape=shape,  # type: ignore[arg-type]
        file_format=format,  # type: ignore[arg-type]
        shard_rows=shard_rows,
        shard_bytes=shard_bytes,
        overwrite=overwrite,
    )
    if manifest["rows"] == 0:
        typer.echo("warning: the selection holds no samples; only the manifest and the card were written", err=True)
    typer.echo(f"{out}: {manifest['rows']:,} rows in {len(manifest['shards'])} shards, {manifest['bytes']:,} bytes")


@app.command()
def check(
    traces: Annotated[list[Path], typer.Argument(help="JSONL or Parquet files of traces (problem, completion, ...).")],
    config: Annotated[
        Path | None,
        typer.Option(help="A run config: its whole chain (vote, judge, dedup too); or a TOML of a `checks` list."),
    ] = None,
    checks: Annotated[
        str | None, typer.Option(help="Comma-separated check names (default: the default chain).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(help="With --config: the run's store, read-only, for decontamination and its dedup index."),
    ] = None,
    all_checks: Annotated[bool, typer.Option("--all", help="Compute every check on every sample.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the verdicts here (JSONL) instead of stdout.")] = None,
    problem_field: Annotated[str | None, typer.Option(help="Field holding the problem.")] = None,
    answer_field: Annotated[str | None, typer.Option(help="Field holding the reference answer.")] = None,
    completion_field: Annotated[str | None, typer.Option(help="Field holding the completion.")] = None,
    language: Annotated[str | None, typer.Option(help="Target language when rows have no `language` field.")] = None,
) -> None:
    """Apply a chain to existing traces without storing anything: one decision line per input line. With a run
    config (and its store) this is an audit: the run's traces get the run's outcomes."""
    from cotfactory.filters.runner import DEFAULT_CHECKS
    from cotfactory.flows.check_traces import check_traces, read_chain_config

    if config is not None and checks is not None:
        raise CotfactoryError("give --config or --checks, not both")
    run_config, chain = read_chain_config(config) if config else (None, None)
    if chain is None:
        chain = checks.split(",") if checks else list(DEFAULT_CHECKS)
    if db is not None and run_config is None:
        raise CotfactoryError("--db needs --config with a run config (one with a [sampler] table)")
    if run_config is not None and run_config.decontam and db is None:
        typer.echo("note: decontamination left out: its benchmarks are in the run's store (give --db)", err=True)
    options = {
        "checks": chain,
        "run_config": run_config,
        "db": db,
        "all_checks": all_checks,
        "problem_field": problem_field,
        "answer_field": answer_field,
        "completion_field": completion_field,
        "language": language,
    }
    if out is None:
        funnel = check_traces(traces, sys.stdout, **options)
    else:
        with out.open("w") as stream:
            funnel = check_traces(traces, stream, **options)
    typer.echo(f"{funnel.total:,} samples checked", err=True)
    for line in funnel.lines():
        typer.echo(line, err=True)


@app.command()
def report(
    run_id: Annotated[str | None, typer.Argument(help="A run id (or give --set).")] = None,
    set_ref: Annotated[str | None, typer.Option("--set", help="NAME or NAME@VERSION (default: latest).")] = None,
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    db: DbOption = Path(DEFAULT_DB),
) -> None:
    """One self-contained HTML file about a run or a set: the funnel, prompt difficulty, length by outcome,
    throughput over time, language shares, and rejected samples with the part that failed marked. It opens
    offline in any browser. Every run also writes its own to reports/RUN_ID.html beside the store."""
    from cotfactory.flows.report import write_report

    path = write_report(db, out, run_id=run_id, set_ref=set_ref)
    typer.echo(f"{path}: report of {'run ' + run_id if run_id else 'set ' + str(set_ref)}")


@app.command()
def migrate(db: DbOption = Path(DEFAULT_DB)) -> None:
    """Create the store, or upgrade an older one to this version's schema."""
    version = Store(db).migrate()
    typer.echo(f"{db}: schema version {version}")


def main() -> None:
    """Entry point: errors cotfactory understands become one line on stderr and exit code 1."""
    try:
        app()
    except CotfactoryError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
