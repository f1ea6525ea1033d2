"""Pydantic rows of a run's life: prompts, runs, completions, the runs' outcomes and verdicts, progress and
quarantined input lines. Each record's fields are exactly its table's columns, in order; the index and set
records are beside these (storage/index_records.py, storage/set_records.py) and re-exported here."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from cotfactory.storage.ids import prompt_id_for, sample_id_for
from cotfactory.storage.index_records import (
    BenchmarkNgramRecord,
    BenchmarkRecord,
    NearDupBandRecord,
    NearDupSignatureRecord,
)
from cotfactory.storage.record_base import Domain, Record, RunStatus, package_version, utc_now
from cotfactory.storage.set_records import SetMemberRecord, SetRecord

__all__ = [
    "ALL_RECORDS",
    "BenchmarkNgramRecord",
    "BenchmarkRecord",
    "CompletionRecord",
    "Domain",
    "JudgedSample",
    "NearDupBandRecord",
    "NearDupSignatureRecord",
    "OutcomeRecord",
    "PromptRecord",
    "QuarantineRecord",
    "Record",
    "RoundRecord",
    "RunRecord",
    "RunStatus",
    "SetMemberRecord",
    "SetRecord",
    "VerdictRecord",
    "package_version",
    "utc_now",
]


class PromptRecord(Record):
    """A problem to sample; the id is derived from the normalized problem text."""

    table: ClassVar[str] = "prompts"
    json_columns: ClassVar[frozenset[str]] = frozenset({"metadata", "tests"})

    prompt_id: str
    source: str
    problem: str
    reference: str | None = None
    domain: Domain = "math"
    target_language: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    added_at: datetime = Field(default_factory=utc_now)
    tests: dict[str, Any] | None = None  # code problems: a CodeTests object as JSON

    @classmethod
    def create(cls, problem: str, **fields: Any) -> "PromptRecord":
        """A prompt whose id is computed from its problem."""
        return cls(prompt_id=prompt_id_for(problem), problem=problem, **fields)


class RunRecord(Record):
    """One flow run with everything needed to reproduce its samples."""

    table: ClassVar[str] = "runs"
    json_columns: ClassVar[frozenset[str]] = frozenset({"sampler", "sampling", "checks", "config"})

    run_id: str
    flow_run_id: str | None = None
    started_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    status: RunStatus = "running"
    model: str
    sampler: dict[str, Any] = Field(default_factory=dict)
    sampling: dict[str, Any] = Field(default_factory=dict)
    checks: list[Any] = Field(default_factory=list)
    package_version: str = Field(default_factory=package_version)
    config: dict[str, Any] = Field(default_factory=dict)


class CompletionRecord(Record):
    """A completion as sampled, stored once whichever runs judge it; the id is derived from prompt, model, text."""

    table: ClassVar[str] = "completions"

    sample_id: str
    prompt_id: str
    completion: str
    reasoning: str | None = None
    answer: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime = Field(default_factory=utc_now)


class OutcomeRecord(Record):
    """What one run decided about one completion it judged, and where the completion sits in that run."""

    table: ClassVar[str] = "outcomes"

    run_id: str
    sample_id: str
    prompt_id: str
    round: int = 0
    sample_index: int = 0
    seed: int | None = None
    accepted: bool = False
    reject_check: str | None = None
    reject_reason: str | None = None
    judged_at: datetime = Field(default_factory=utc_now)


@dataclass(frozen=True)
class JudgedSample:
    """A completion with one run's outcome of it: a row of the `samples` view, written as its two parts."""

    completion: CompletionRecord
    outcome: OutcomeRecord

    @classmethod
    def create(cls, *, prompt_id: str, model: str, completion: str, run_id: str, **fields: Any) -> "JudgedSample":
        """A judged sample whose id is computed from its prompt, model and completion; each field goes to the
        part whose column it is."""
        sample_id = sample_id_for(prompt_id, model, completion)
        outcome_columns = set(OutcomeRecord.columns())
        unknown = set(fields) - outcome_columns - set(CompletionRecord.columns())
        if unknown:
            raise TypeError(f"a judged sample has no field {sorted(unknown)[0]!r}")
        return cls(
            CompletionRecord(
                sample_id=sample_id,
                prompt_id=prompt_id,
                completion=completion,
                **{k: v for k, v in fields.items() if k not in outcome_columns},
            ),
            OutcomeRecord(
                run_id=run_id,
                sample_id=sample_id,
                prompt_id=prompt_id,
                **{k: v for k, v in fields.items() if k in outcome_columns},
            ),
        )

    @property
    def sample_id(self) -> str:
        return self.completion.sample_id


class VerdictRecord(Record):
    """What one check decided about one sample in one run (`check` is an SQL keyword, hence `check_name`)."""

    table: ClassVar[str] = "verdicts"

    run_id: str
    sample_id: str
    check_name: str
    passed: bool
    score: float | None = None
    reason: str | None = None
    detail: str | None = None


class RoundRecord(Record):
    """One prompt sampled in one round of a run, stored with its samples: the unit a rerun skips."""

    table: ClassVar[str] = "run_rounds"

    run_id: str
    prompt_id: str
    round: int
    samples: int
    accepted: int
    completion_tokens: int | None = None
    stored_at: datetime = Field(default_factory=utc_now)


class QuarantineRecord(Record):
    """An input line that could not be imported, kept byte for byte with its error."""

    table: ClassVar[str] = "quarantine"

    quarantine_id: str
    file: str
    line: int
    raw: bytes
    error: str
    quarantined_at: datetime = Field(default_factory=utc_now)


ALL_RECORDS: tuple[type[Record], ...] = (
    PromptRecord,
    RunRecord,
    CompletionRecord,
    OutcomeRecord,
    VerdictRecord,
    RoundRecord,
    NearDupSignatureRecord,
    NearDupBandRecord,
    BenchmarkRecord,
    BenchmarkNgramRecord,
    SetRecord,
    SetMemberRecord,
    QuarantineRecord,
)
