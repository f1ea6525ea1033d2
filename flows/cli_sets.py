"""The `cotfactory` commands for curated sets and benchmark decontamination."""

from pathlib import Path
from typing import Annotated

import typer

from cotfactory.flows.cli_options import DEFAULT_DB, DbOption
from cotfactory.flows.tables import print_frame
from cotfactory.storage import Store, query


def curate_command(
    name: Annotated[str, typer.Argument(help="The set's name; each curate adds a version.")],
    where: Annotated[str | None, typer.Option(help="SQL predicate over the `accepted` view.")] = None,
    per_prompt: Annotated[int | None, typer.Option(help="At most K samples per prompt.")] = None,
    pass_rate: Annotated[
        str | None, typer.Option(help="MIN:MAX pass rate of the prompt (accepted / sampled), e.g. 0.1:0.9.")
    ] = None,
    prefer: Annotated[str, typer.Option(help="Which samples of a prompt first: shortest, longest, random:SEED.")] = (
        "shortest"
    ),
    no_near_dups: Annotated[bool, typer.Option(help="Drop near-duplicates of preferred samples.")] = False,
    decontam: Annotated[
        str | None, typer.Option(help="Drop prompts overlapping these registered benchmarks (NAME,...).")
    ] = None,
    db: DbOption = Path(DEFAULT_DB),
) -> None:
    """Build a new version of a set from accepted samples; the same options on the same store give the same
    members. Export it with `cotfactory export --set NAME@VERSION`."""
    from cotfactory.flows.curate import curate, parse_pass_rate, spec_from_options

    spec = spec_from_options(
        where=where,
        per_prompt=per_prompt,
        pass_rate=parse_pass_rate(pass_rate),
        prefer=prefer,
        no_near_dups=no_near_dups,
        decontam=[n for n in (decontam or "").split(",") if n],
    )
    report = curate(Store(db), name, spec)
    record = report.record
    typer.echo(
        f"{record.name}@{record.version}: {record.row_count:,} samples of {report.prompts:,} prompts, "
        f"{report.tokens:,} completion tokens (from {report.considered:,} accepted samples matching)"
    )
    for reason, count in report.excluded.items():
        typer.echo(f"  excluded by {reason}: {count:,}")


def sets(db: DbOption = Path(DEFAULT_DB)) -> None:
    """List the curated sets and their versions."""
    frame = query("SELECT name, version, created_at, row_count, spec FROM sets ORDER BY name, version", db)
    print_frame(frame, title="sets", max_rows=200)


decontam_app = typer.Typer(help="Benchmarks to decontaminate against.", no_args_is_help=True)


@decontam_app.command("add")
def decontam_add(
    name: Annotated[str, typer.Argument(help="Benchmark name, e.g. math500.")],
    files: Annotated[list[Path], typer.Argument(help="Problem files: JSONL, CSV/TSV or Parquet.")],
    field: Annotated[str | None, typer.Option(help="Field holding the problem; default: the usual names.")] = None,
    ngram: Annotated[int, typer.Option(help="Word n-gram size (open-r1 and s1 use 8).")] = 8,
    db: DbOption = Path(DEFAULT_DB),
) -> None:
    """Register benchmark problems; prompts sharing a word n-gram with them count as contaminated."""
    from cotfactory.filters.decontam import register_benchmark

    record = register_benchmark(Store(db), name, files, field=field, n=ngram)
    typer.echo(f"{db}: benchmark {record.name}: {record.problems:,} problems as word {record.ngram}-grams")


@decontam_app.command("check")
def decontam_check(
    names: Annotated[str | None, typer.Option("--benchmarks", help="NAME,... (default: all registered).")] = None,
    db: DbOption = Path(DEFAULT_DB),
) -> None:
    """List stored prompts that overlap the benchmarks, with the shared n-gram."""
    from cotfactory.filters.decontam import Decontaminator
    from cotfactory.storage.query import open_read_only

    with open_read_only(db) as con:
        decontaminator = Decontaminator(con, names.split(",") if names else None)
        found = 0
        for prompt_id, problem in con.execute("SELECT prompt_id, problem FROM prompts ORDER BY prompt_id").fetchall():
            if (hit := decontaminator.find(problem)) is not None:
                found += 1
                typer.echo(f"{prompt_id}\t{hit}")
    typer.echo(f"{found:,} contaminated prompts", err=True)
