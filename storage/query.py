"""Read-only access for SQL questions, from the CLI or a notebook."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from cotfactory.storage.connection import DEFAULT_LOCK_TIMEOUT_S, connect
from cotfactory.storage.errors import SchemaError, StoreError
from cotfactory.storage.migrations import LATEST_VERSION, check_version, schema_version


@contextmanager
def open_read_only(
    path: str | Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a store at the current schema version, closed on exit."""
    con = connect(path, read_only=True, lock_timeout=lock_timeout)
    try:
        version = schema_version(con)
        check_version(version, str(path))
        if version < LATEST_VERSION:
            raise SchemaError(
                f"{path} has schema version {version} (this cotfactory uses {LATEST_VERSION}); "
                f"upgrade it once with: cotfactory migrate --db {path}"
            )
        yield con
    finally:
        con.close()


def query(sql: str, db: str | Path, *, params: list | None = None) -> pl.DataFrame:
    """Run one read-only query against the store at `db` and return its rows as a polars DataFrame."""
    with open_read_only(db) as con:
        try:
            relation = con.sql(sql, params=params)
        except duckdb.Error as error:
            raise StoreError(f"query failed: {error}") from error
        if relation is None:  # a statement without a result, e.g. SET
            return pl.DataFrame()
        return relation.pl()
