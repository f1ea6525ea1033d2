"""DuckDB storage: records, schema migrations, transactional batch writes, read-only queries, export."""

from cotfactory.storage.errors import InputError, SchemaError, StoreBusy, StoreError
from cotfactory.storage.ids import normalize_problem, prompt_id_for, sample_id_for
from cotfactory.storage.query import open_read_only, query
from cotfactory.storage.records import (
    JudgedSample,
    PromptRecord,
    QuarantineRecord,
    RoundRecord,
    RunRecord,
    SetMemberRecord,
    SetRecord,
    VerdictRecord,
)
from cotfactory.storage.store import Store

__all__ = [
    "InputError",
    "JudgedSample",
    "PromptRecord",
    "QuarantineRecord",
    "RoundRecord",
    "RunRecord",
    "SchemaError",
    "SetMemberRecord",
    "SetRecord",
    "Store",
    "StoreBusy",
    "StoreError",
    "VerdictRecord",
    "normalize_problem",
    "open_read_only",
    "prompt_id_for",
    "query",
    "sample_id_for",
]
