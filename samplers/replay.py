"""Replay: serve existing generations (public trace dumps, earlier runs) as if they were sampled now.

Traces are keyed by the normalized problem, so they meet the prompts of the store whatever their ids were.
Round r of a run serves a prompt's traces r*n to (r+1)*n - 1 in file order, so a second round gets new ones
and a resumed run serves exactly the traces its missing rounds would have. Without a round, each call serves
the next traces not yet served. A prompt with no recorded trace gets an empty list and is named in `missing`:
nothing is invented.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from cotfactory.samplers.base import Completion, SamplingParams
from cotfactory.storage import InputError, PromptRecord
from cotfactory.storage.ids import prompt_id_for
from cotfactory.storage.input_rows import DEFAULT_MAX_LINE_BYTES, InputRow, describe_bad_rows, read_rows
from cotfactory.storage.prompt_fields import (
    COMPLETION_FIELDS,
    PROBLEM_FIELDS,
    REASONING_FIELDS,
    FieldError,
    pick_field,
)

log = logging.getLogger(__name__)


class ReplayConfig(BaseModel):
    """Where the traces are and which fields hold what (None: the usual names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paths: list[Path]
    model: str = Field("replay", description="The name the replayed samples are stored under")
    problem_field: str | None = None
    completion_field: str | None = None
    reasoning_field: str | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    def file_problems(self) -> list[str]:
        """Trace files that cannot be read (checked when a run config loads)."""
        return [f"paths[{index}]: cannot read {path}" for index, path in enumerate(self.paths) if not path.is_file()]


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


class ReplaySampler:
    """A Sampler over recorded traces."""

    # Its completions are recorded ones: one the store already holds is the same sample judged again.
    replays: ClassVar[bool] = True

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self._traces: dict[str, list[Completion]] = defaultdict(list)
        self._served: dict[str, int] = defaultdict(int)
        self.missing: set[str] = set()
        bad: list[InputRow] = []
        for path in config.paths:
            for row in read_rows(path, max_line_bytes=config.max_line_bytes):
                if row.fields is None:
                    bad.append(row)
                    continue
                try:
                    problem_id, completion = self._completion(row.fields)
                except (FieldError, ValueError, TypeError) as error:
                    bad.append(InputRow(row.file, row.line, row.raw, error=str(error)))
                    continue
                self._traces[problem_id].append(completion)
        if bad:
            raise InputError(f"{len(bad):,} bad trace rows:\n{describe_bad_rows(bad)}")

    def _completion(self, fields: dict[str, Any]) -> tuple[str, Completion]:
        config = self.config
        problem = pick_field(fields, config.problem_field, PROBLEM_FIELDS, "problem", required=True)
        text = pick_field(fields, config.completion_field, COMPLETION_FIELDS, "completion", required=True)
        reasoning = pick_field(fields, config.reasoning_field, REASONING_FIELDS, "reasoning", required=False)
        if not isinstance(problem, str) or not isinstance(text, str):
            raise ValueError("problem and completion must be strings")
        completion = Completion(
            text=text,
            reasoning=reasoning,
            finish_reason=fields.get("finish_reason"),
            prompt_tokens=_int_or_none(fields.get("prompt_tokens")),
            completion_tokens=_int_or_none(fields.get("completion_tokens")),
            # Dumps of R1-distill models drop the template's <think>; the parser treats a lone </think> alike.
            opened_by_template=False,
        )
        return prompt_id_for(problem), completion

    @property
    def trace_count(self) -> int:
        return sum(len(traces) for traces in self._traces.values())

    def generate(
        self, prompts: Sequence[PromptRecord], params: SamplingParams, *, round_index: int | None = None
    ) -> list[list[Completion]]:
        """Up to `params.n` recorded traces per prompt: those of round `round_index`, or the next ones not yet
        served; none for prompts without traces."""
        served: list[list[Completion]] = []
        for prompt in prompts:
            key = prompt_id_for(prompt.problem)
            traces = self._traces.get(key)
            if traces is None:
                if prompt.prompt_id not in self.missing:
                    log.warning("replay: no recorded trace for prompt %s", prompt.prompt_id)
                    self.missing.add(prompt.prompt_id)
                served.append([])
                continue
            start = self._served[key] if round_index is None else round_index * params.n
            served.append(traces[start : start + params.n])
            if round_index is None:
                self._served[key] = start + len(served[-1])
        return served
