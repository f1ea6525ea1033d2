"""Mapping the common prompt-set shapes onto prompts: which field is the problem, which the reference answer.

MATH-500 has `problem`/`answer`; GSM8K `question`/`answer` with the final answer after `####`; NuminaMath
`problem`/`solution` with the answer in the last `\\boxed{}`; OlympiadBench a list in `final_answer`.
"""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cotfactory.filters.parse import last_boxed
from cotfactory.storage.code_problems import TEST_FIELDS, CodeTestsError, tests_from_fields, with_starter_code
from cotfactory.storage.records import Domain, PromptRecord

PROBLEM_FIELDS = ("problem", "question", "prompt", "input")
COMPLETION_FIELDS = ("completion", "generation", "output", "response", "trace")
REASONING_FIELDS = ("reasoning_content", "reasoning")
ANSWER_FIELDS = ("answer", "final_answer", "reference", "expected_answer", "solution")

_GSM8K_FINAL = re.compile(r"^####\s*(.+?)\s*$", re.MULTILINE)


class FieldError(ValueError):
    """A row lacks a usable problem or reference; the message names the field."""


def reference_text(value: Any, field: str) -> str | None:
    """The reference answer held by `value`: the part after `####`, the last `\\boxed{}`, or the value itself."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError(f"field {field!r} is a boolean, not an answer")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        parts = [reference_text(item, field) for item in value]
        return ", ".join(part for part in parts if part) or None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value).strip()
    if not text:
        return None
    if finals := _GSM8K_FINAL.findall(text):
        return finals[-1]
    if (boxed := last_boxed(text)) is not None:
        return boxed
    if field == "solution":
        raise FieldError("field 'solution' has no \\boxed{} final answer; name the answer field with --answer-field")
    return text


def pick_field(fields: dict[str, Any], named: str | None, usual: Sequence[str], what: str, required: bool) -> Any:
    """The value of field `named`, else of the first usual name present; FieldError when required and absent."""
    names = (named,) if named else tuple(usual)
    for name in names:
        if fields.get(name) is not None:
            return fields[name]
    if required:
        raise FieldError(f"missing {what} field ({' or '.join(names)})")
    return None


@dataclass(frozen=True)
class FieldMapping:
    """Which fields hold the problem and the reference; None means: the first of the usual names present."""

    problem_field: str | None = None
    answer_field: str | None = None
    source: str = "prompts"
    domain: Domain | None = None  # None: "code" for rows with tests, else "math"
    target_language: str | None = None

    def _problem(self, fields: dict[str, Any]) -> tuple[str, str]:
        names = (self.problem_field,) if self.problem_field else PROBLEM_FIELDS
        for name in names:
            if name in fields:
                value = fields[name]
                if not isinstance(value, str):
                    raise FieldError(f"field {name!r} is not a string (got {type(value).__name__})")
                if not value.strip():
                    raise FieldError(f"field {name!r} is empty")
                return name, value
        if self.problem_field:
            raise FieldError(f"missing field {self.problem_field!r}")
        raise FieldError(f"no problem field (looked for {', '.join(PROBLEM_FIELDS)}; name it with --problem-field)")

    def _reference(self, fields: dict[str, Any]) -> tuple[str | None, str | None]:
        if self.answer_field:
            if self.answer_field not in fields:
                raise FieldError(f"missing field {self.answer_field!r}")
            reference = reference_text(fields[self.answer_field], self.answer_field)
            if reference is None:
                raise FieldError(f"field {self.answer_field!r} is empty")
            return self.answer_field, reference
        for name in ANSWER_FIELDS:
            if fields.get(name) is not None:
                return name, reference_text(fields[name], name)
        return None, None

    def prompt(self, fields: dict[str, Any]) -> PromptRecord:
        """The prompt a row describes; raises FieldError naming the field when it cannot."""
        problem_name, problem = self._problem(fields)
        try:
            tests = tests_from_fields(fields)
        except CodeTestsError as error:
            raise FieldError(str(error)) from None
        # A code problem's worked solution is code, not an answer to compare: only a named field is a reference.
        answer_name, reference = (None, None) if tests and not self.answer_field else self._reference(fields)
        # Everything else stays as metadata, the worked solution too when only its final answer became the reference.
        consumed = {problem_name, *(TEST_FIELDS if tests else ())}
        metadata = {
            key: value
            for key, value in fields.items()
            if key not in consumed and not (key == answer_name and str(value).strip() == reference)
        }
        return PromptRecord.create(
            with_starter_code(problem, fields) if tests else problem,
            source=self.source,
            reference=reference,
            domain=self.domain or ("code" if tests else "math"),
            tests=tests.model_dump(exclude_defaults=True) if tests else None,
            target_language=self.target_language,
            metadata=json.loads(json.dumps(metadata, ensure_ascii=False, default=str)),
        )
