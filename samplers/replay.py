"""Replay: serve existing generations (public trace dumps, earlier runs) as if they were sampled now.

Traces are keyed by the normalized problem, so they meet the prompts of the store whatever their ids were.
Round r of a request serves its problem's traces r*n to (r+1)*n - 1 in file order, so a second round gets new
ones and a resumed run serves exactly the traces its missing rounds would have. A prompt with no recorded trace
gets an empty list and is named in `missing`: nothing is invented.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from cotfactory.samplers.base import Completion, Sampler, SampleRequest, SamplerSettings
from cotfactory.storage.ids import prompt_id_for
from cotfactory.storage.input_rows import DEFAULT_MAX_LINE_BYTES, InputRow, parse_all_rows
from cotfactory.storage.prompt_fields import (
    COMPLETION_FIELDS,
    PROBLEM_FIELDS,
    REASONING_FIELDS,
    FieldError,
    pick_field,
)

log = logging.getLogger(__name__)


class ReplayConfig(SamplerSettings):
    """Where the traces are and which fields hold what (None: the usual names)."""

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


class ReplaySampler(Sampler):
    """A Sampler over recorded traces (its registry entry says `recorded`: the store may already hold them)."""

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self._traces: dict[str, list[Completion]] = defaultdict(list)
        self.missing: set[str] = set()
        traces = parse_all_rows(
            config.paths,
            self._completion,
            what="traces",
            errors=(FieldError, ValueError, TypeError),
            max_line_bytes=config.max_line_bytes,
        )
        for problem_id, completion in traces:
            self._traces[problem_id].append(completion)

    def _completion(self, row: InputRow) -> tuple[str, Completion]:
        fields: dict[str, Any] = row.fields or {}
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

    def generate(self, requests: Sequence[SampleRequest]) -> list[list[Completion]]:
        """Up to `params.n` recorded traces per request, those of its round; none for problems without traces."""
        served: list[list[Completion]] = []
        for request in requests:
            traces = self._traces.get(prompt_id_for(request.problem))
            if traces is None:
                if request.prompt_id not in self.missing:
                    log.warning("replay: no recorded trace for prompt %s", request.prompt_id)
                    self.missing.add(request.prompt_id)
                served.append([])
                continue
            n = request.params.n
            served.append(traces[request.round * n : (request.round + 1) * n])
        return served
