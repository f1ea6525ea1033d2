"""Prompt import: files -> validated prompts -> one transaction, or nothing and a list of every bad line."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cotfactory.filters.scripts import language_scripts
from cotfactory.storage import InputError, PromptRecord, QuarantineRecord, Store
from cotfactory.storage.ids import xxh3_id
from cotfactory.storage.input_rows import DEFAULT_MAX_LINE_BYTES, InputRow, describe_bad_rows, read_rows
from cotfactory.storage.prompt_fields import FieldError, FieldMapping
from cotfactory.storage.records import Domain

OnError = Literal["fail", "quarantine"]


@dataclass
class ImportReport:
    """What an import found and did."""

    rows: int = 0
    prompts: int = 0
    new: int = 0
    duplicates_in_input: int = 0
    bad_rows: list[InputRow] = field(default_factory=list)
    quarantined: int = 0

    @property
    def already_stored(self) -> int:
        return self.prompts - self.new

    def summary(self) -> str:
        parts = [
            f"{self.rows:,} rows read",
            f"{self.new:,} new prompts",
            f"{self.already_stored:,} already in the store",
        ]
        if self.duplicates_in_input:
            parts.append(f"{self.duplicates_in_input:,} repeated within the input")
        if self.quarantined:
            parts.append(f"{self.quarantined:,} bad rows quarantined")
        return ", ".join(parts)


def _source_name(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name.removesuffix(suffix)
    return name or path.name


def import_prompts(
    store: Store,
    paths: Sequence[str | Path],
    *,
    source: str | None = None,
    problem_field: str | None = None,
    answer_field: str | None = None,
    domain: Domain | None = None,
    target_language: str | None = None,
    on_error: OnError = "fail",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> ImportReport:
    """Import prompt files into the store. With on_error="fail" a single bad row imports nothing and raises
    InputError listing every bad row; with "quarantine" the good rows are imported and the bad ones kept."""
    if target_language is not None:
        language_scripts(target_language)  # an unknown code fails before any row is read
    report = ImportReport()
    prompts: dict[str, PromptRecord] = {}
    for path in map(Path, paths):
        mapping = FieldMapping(problem_field, answer_field, source or _source_name(path), domain, target_language)
        for row in read_rows(path, max_line_bytes=max_line_bytes):
            report.rows += 1
            if row.fields is None:
                report.bad_rows.append(row)
                continue
            try:
                prompt = mapping.prompt(row.fields)
            except FieldError as error:
                report.bad_rows.append(InputRow(row.file, row.line, row.raw, error=str(error)))
                continue
            if prompt.prompt_id in prompts:
                report.duplicates_in_input += 1
            else:
                prompts[prompt.prompt_id] = prompt
    report.prompts = len(prompts)
    if report.bad_rows and on_error == "fail":
        raise InputError(
            f"{len(report.bad_rows):,} bad rows, nothing imported (use --on-error quarantine to import the rest):\n"
            + describe_bad_rows(report.bad_rows)
        )
    quarantined = [
        QuarantineRecord(
            quarantine_id=xxh3_id(row.file, str(row.line), row.raw.hex()),
            file=row.file,
            line=row.line,
            raw=row.raw,
            error=row.error or "",
        )
        for row in report.bad_rows
    ]
    report.new = store.import_prompts(list(prompts.values()), quarantined)
    report.quarantined = len(quarantined)
    return report
