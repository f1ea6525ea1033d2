"""Applying the schema's migrations (`storage/schema_history.py`) to a store file, each in its own transaction."""

import duckdb

from cotfactory.storage.errors import SchemaError
from cotfactory.storage.schema_history import MIGRATIONS, Migration

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Migration", "check_version", "migrate", "schema_version"]

LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to this file; 0 for an empty file."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "schema_migrations" not in tables:
        if tables:
            raise SchemaError(
                f"this DuckDB file holds tables ({', '.join(sorted(tables))}) but is not a cotfactory store"
            )
        return 0
    ((version,),) = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(version)


def check_version(version: int, path: str) -> None:
    """Refuse a file written by a newer cotfactory instead of misreading it."""
    if version > LATEST_VERSION:
        raise SchemaError(
            f"{path} has schema version {version}, but this cotfactory knows versions up to {LATEST_VERSION}: "
            "upgrade cotfactory to open it"
        )


def migrate(con: duckdb.DuckDBPyConnection, path: str, upto: int = LATEST_VERSION) -> int:
    """Apply the pending migrations up to `upto`, each in its own transaction; returns the new version."""
    current = schema_version(con)
    check_version(current, path)
    if current == 0:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
    for migration in MIGRATIONS:
        if current < migration.version <= upto:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(migration.sql)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)",
                    [migration.version, migration.description],
                )
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            current = migration.version
    return current
