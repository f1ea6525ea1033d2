"""Options the `cotfactory` commands share."""

import os
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DB = os.environ.get("COTFACTORY_DB", "cotfactory.duckdb")
DbOption = Annotated[Path, typer.Option("--db", help="The store (a DuckDB file); env COTFACTORY_DB.")]
