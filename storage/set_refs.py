"""Which stored set a reference means: `NAME` (its latest version) or `NAME@VERSION`. Export and the report
resolve references here and a new set's name is checked here; every value reaches SQL as a parameter, so any
name a set may have (quotes, NULs, any script) selects exactly that set."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.text import storable


class SetRefError(CotfactoryError):
    """A set reference is malformed, or names no stored set or version."""


@dataclass(frozen=True)
class SetVersion:
    """One stored version of a set, as `sets` holds it."""

    name: str
    version: int
    spec: dict[str, Any]
    row_count: int
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def members(self, sample_id: str) -> tuple[str, list[Any]]:
        """An SQL predicate true where the column `sample_id` holds a member, and its parameters."""
        predicate = f"{sample_id} IN (SELECT sample_id FROM set_members WHERE name = ? AND version = ?)"
        return predicate, [self.name, self.version]


def _version_suffix(text: str) -> int | None:
    # ASCII digits only: int() also reads other scripts' digits, which a name may hold
    return int(text) if text.isascii() and text.isdigit() else None


def check_set_name(name: str) -> str:
    """`name` as stored, if a reference can name it; a name ending in `@DIGITS` would read as a version."""
    if not name:
        raise SetRefError("a set needs a non-empty name")
    _, at, tail = name.rpartition("@")
    if at and (not tail or _version_suffix(tail) is not None):
        raise SetRefError(f"set name {name!r} ends in '@{tail}', which would read as a version; choose another")
    return storable(name)


def parse_set_ref(ref: str) -> tuple[str, int | None]:
    """(name, version) of `NAME@VERSION`, or (name, None) of `NAME`; the name is everything before the last `@`
    followed by digits, so names may hold `@` elsewhere."""
    head, at, tail = ref.rpartition("@")
    version = _version_suffix(tail) if at else None
    name = head if version is not None else ref
    if not name or (at and not tail):
        raise SetRefError(f"bad set reference {ref!r}: expected NAME or NAME@VERSION")
    return storable(name), version


def latest_version(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """The highest stored version of set `name`; 0 when there is none."""
    ((latest,),) = con.execute("SELECT coalesce(max(version), 0) FROM sets WHERE name = ?", [name]).fetchall()
    return int(latest)


def resolve_set(con: duckdb.DuckDBPyConnection, ref: str) -> SetVersion:
    """The stored set version `ref` names (the latest when it names no version)."""
    name, version = parse_set_ref(ref)
    rows = con.execute(
        "SELECT version, spec, row_count, created_at FROM sets WHERE name = ? ORDER BY version", [name]
    ).fetchall()
    if not rows:
        known = [f"{n}@{v}" for n, v in con.execute("SELECT name, version FROM sets ORDER BY ALL").fetchall()]
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise SetRefError(f"no set named {name!r} (known: {shown or 'none yet'}); `cotfactory sets` lists them")
    chosen = rows[-1] if version is None else next((row for row in rows if row[0] == version), None)
    if chosen is None:
        versions = ", ".join(str(row[0]) for row in rows)
        raise SetRefError(f"set {name!r} has no version {version} (versions: {versions})")
    number, spec, row_count, created_at = chosen
    return SetVersion(name, int(number), json.loads(spec or "{}"), int(row_count), created_at)
