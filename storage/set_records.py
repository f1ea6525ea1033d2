"""Pydantic rows of curated sets: a set's versions and their members."""

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from cotfactory.storage.record_base import Record, utc_now


class SetRecord(Record):
    """One version of a curated set, with the spec that built it."""

    table: ClassVar[str] = "sets"
    json_columns: ClassVar[frozenset[str]] = frozenset({"spec"})

    name: str
    version: int
    created_at: datetime = Field(default_factory=utc_now)
    spec: dict[str, Any] = Field(default_factory=dict)
    row_count: int = 0


class SetMemberRecord(Record):
    """A sample belonging to one version of a set."""

    table: ClassVar[str] = "set_members"

    name: str
    version: int
    sample_id: str
