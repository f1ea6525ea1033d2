"""`cotfactory check`: the checks applied to a file of existing traces, nothing stored; for tuning and audits."""

import json
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import (
    DEFAULT_CHECKS,
    CheckConfigError,
    CheckRunner,
    Decision,
    build_checks,
    domains_of,
)
from cotfactory.storage.input_rows import InputRow, parse_all_rows
from cotfactory.storage.prompt_fields import COMPLETION_FIELDS, REASONING_FIELDS, FieldError, FieldMapping, pick_field
from cotfactory.storage.text import storable_value

BATCH = 512


@dataclass
class Funnel:
    """Counts of accepted samples and of each first failing reason."""

    total: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, decision: Decision) -> None:
        self.total += 1
        self.reasons[decision.reason or "accepted"] += 1

    def lines(self) -> list[str]:
        return [
            f"{reason:24s} {count:8,d}  {count / max(1, self.total):6.1%}"
            for reason, count in self.reasons.most_common()
        ]


def checks_from_config(path: Path) -> list[str | dict[str, Any]]:
    """The `checks` list of a TOML run config."""
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CheckConfigError(f"{path}: {error}") from error
    if "checks" not in config:
        raise CheckConfigError(f"{path}: no `checks` list")
    return config["checks"]


def _sample(row: InputRow, mapping: FieldMapping, completion_field: str | None) -> tuple[str, Sample]:
    fields = row.fields or {}
    prompt = mapping.prompt(fields)
    completion = pick_field(fields, completion_field, COMPLETION_FIELDS, "completion", required=True)
    reasoning = pick_field(fields, None, REASONING_FIELDS, "reasoning", required=False)
    if not isinstance(completion, str):
        raise FieldError("the completion is not a string")
    sample = Sample.from_completion(
        prompt.problem,
        completion,
        reasoning=reasoning,
        reference=prompt.reference,
        domain=str(fields.get("domain") or prompt.domain),
        target_language=fields.get("language") or mapping.target_language,
        finish_reason=fields.get("finish_reason"),
        completion_tokens=fields.get("completion_tokens"),
        tests=json.dumps(prompt.tests) if prompt.tests else None,
    )
    return str(fields.get("id", f"{row.file}:{row.line}")), sample


def _samples(paths: Sequence[Path], mapping: FieldMapping, completion_field: str | None) -> list[tuple[str, Sample]]:
    return parse_all_rows(paths, lambda row: _sample(row, mapping, completion_field), what="nothing checked")


def check_traces(
    paths: Sequence[Path],
    out: TextIO,
    *,
    checks: Sequence[str | dict[str, Any]] = DEFAULT_CHECKS,
    all_checks: bool = False,
    problem_field: str | None = None,
    answer_field: str | None = None,
    completion_field: str | None = None,
    language: str | None = None,
    workers: int | None = None,
) -> Funnel:
    """Write one JSON line per input row, in input order: id, accepted, reason and every computed verdict."""
    chain = build_checks(checks)
    mapping = FieldMapping(problem_field, answer_field, target_language=language)
    funnel = Funnel()
    rows = list(_samples(paths, mapping, completion_field))
    with CheckRunner(chain, workers=workers, all_checks=all_checks) as runner:
        runner.setup(domains_of(sample for _, sample in rows))
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            for (row_id, _), decision in zip(batch, runner.run([s for _, s in batch]), strict=True):
                funnel.add(decision)
                verdicts = [
                    {"check": name, "passed": v.passed, "reason": v.reason, "score": v.score, "detail": v.detail}
                    for name, v in decision.verdicts.items()
                ]
                line = {"id": row_id, "accepted": decision.accepted, "reason": decision.reason, "verdicts": verdicts}
                out.write(json.dumps(storable_value(line), ensure_ascii=False) + "\n")
    return funnel
