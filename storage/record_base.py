"""The base of every stored row: a frozen pydantic model whose fields are its table's columns, in order."""

from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from cotfactory.storage.text import storable_value

Domain = Literal["math", "code", "choice", "general"]
RunStatus = Literal["running", "completed", "failed", "cancelled"]


def utc_now() -> datetime:
    """Naive UTC, the form the TIMESTAMP columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def package_version() -> str:
    """The installed cotfactory version, recorded with every run and export."""
    try:
        return version("cotfactory")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


class Record(BaseModel):
    """A row of one table; `table` names it and `json_columns` are stored as JSON text."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    table: ClassVar[str]
    json_columns: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def columns(cls) -> list[str]:
        """Column names in table order."""
        return list(cls.model_fields)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, values: Any) -> Any:
        # every string a row holds can be encoded (lone surrogates escaped): no row can fail its write
        return storable_value(values) if isinstance(values, dict) else values
