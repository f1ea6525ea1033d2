"""`cotfactory check`: a chain applied to a file of existing traces, nothing stored; for tuning and audits.

With a run config the chain is the run's own (its checks, vote, judge, dedup and, with the run's store,
decontamination and the store's dedup index, read-only), so an audit of a run's traces gives the run's outcomes.
"""

import json
import tomllib
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cotfactory.filters.chain import Chain, ChainContext, Decision
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import DEFAULT_CHECKS, CheckConfigError, build_checks, build_entries, domains_of
from cotfactory.storage.ids import sample_id_for
from cotfactory.storage.input_rows import InputRow, parse_all_rows
from cotfactory.storage.prompt_fields import COMPLETION_FIELDS, REASONING_FIELDS, FieldError, FieldMapping, pick_field
from cotfactory.storage.query import open_read_only
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


def read_chain_config(path: Path) -> tuple[Any, list[str | dict[str, Any]]]:
    """A `--config` file: a run config (it has a `[sampler]` table), whose whole chain is used, or a file that
    only lists `checks` (the default chain when it lists none)."""
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CheckConfigError(f"{path}: {error}") from error
    if "sampler" in table:
        from cotfactory.flows.config import load_config

        run_config = load_config(path)
        return run_config, list(run_config.checks)
    checks = table.get("checks", list(DEFAULT_CHECKS))
    try:
        build_checks(checks)
    except CheckConfigError as error:
        raise CheckConfigError(f"{path}: {error}") from None
    return None, checks


def _sample(row: InputRow, mapping: FieldMapping, completion_field: str | None, model: str) -> tuple[str, Sample]:
    fields = row.fields or {}
    prompt = mapping.prompt(fields)
    completion = pick_field(fields, completion_field, COMPLETION_FIELDS, "completion", required=True)
    reasoning = pick_field(fields, None, REASONING_FIELDS, "reasoning", required=False)
    if not isinstance(completion, str):
        raise FieldError("the completion is not a string")
    round_index = fields.get("round", 0)
    if type(round_index) is not int or round_index < 0:
        raise FieldError(f"round: want a whole number >= 0, got {round_index!r}")
    row_id = fields.get("id")
    sample = Sample.from_completion(
        prompt.problem,
        completion,
        reasoning=reasoning,
        reference=prompt.reference,
        domain=str(fields.get("domain") or prompt.domain),
        target_language=fields.get("language") or mapping.target_language,
        finish_reason=fields.get("finish_reason"),
        completion_tokens=fields.get("completion_tokens"),
        opened_by_template=fields.get("opened_by_template") is True,
        tests=json.dumps(prompt.tests) if prompt.tests else None,
        # a stored sample's id makes the trace that sample: judged against the store without itself
        sample_id=str(row_id) if row_id is not None else sample_id_for(prompt.prompt_id, model, completion, reasoning),
        prompt_id=prompt.prompt_id,
        round=round_index,
    )
    return str(row_id if row_id is not None else f"{row.file}:{row.line}"), sample


def _batches(samples: Sequence[Sample]) -> list[list[int]]:
    """Positions in groups of about BATCH, never splitting a prompt's round (the vote looks across it)."""
    rounds: dict[tuple[str, int], list[int]] = {}
    for position, sample in enumerate(samples):
        rounds.setdefault((sample.prompt_id, sample.round), []).append(position)
    batches: list[list[int]] = [[]]
    for positions in rounds.values():
        if len(batches[-1]) >= BATCH:
            batches.append([])
        batches[-1].extend(positions)
    return [batch for batch in batches if batch]


def _line(row_id: str, decision: Decision) -> str:
    verdicts = [
        {"check": name, "passed": v.passed, "reason": v.reason, "score": v.score, "detail": v.detail}
        for name, v in decision.verdicts.items()
    ]
    line = {
        "id": row_id,
        "accepted": decision.accepted,
        "check": decision.check,
        "reason": decision.reason,
        "verdicts": verdicts,
    }
    return json.dumps(storable_value(line), ensure_ascii=False) + "\n"


def check_traces(
    paths: Sequence[Path],
    out: TextIO,
    *,
    checks: Sequence[str | dict[str, Any]] = DEFAULT_CHECKS,
    run_config: Any = None,
    db: Path | None = None,
    all_checks: bool = False,
    problem_field: str | None = None,
    answer_field: str | None = None,
    completion_field: str | None = None,
    language: str | None = None,
    workers: int | None = None,
) -> Funnel:
    """Write one JSON line per input row, in input order: id, accepted, the first failing check and its reason,
    and every computed verdict. `run_config` (a RunConfig): the run's chain; `db`: its store, read-only."""
    model = run_config.model if run_config is not None else ""
    mapping = FieldMapping(problem_field, answer_field, target_language=language)
    funnel = Funnel()
    rows = parse_all_rows(paths, lambda row: _sample(row, mapping, completion_field, model), what="nothing checked")
    samples = [sample for _, sample in rows]
    with ExitStack() as stack:
        con = stack.enter_context(open_read_only(db)) if db is not None else None
        if run_config is not None:
            from cotfactory.flows.run_parts import open_chain

            chain = open_chain(run_config, con, workers=workers, all_checks=all_checks)
        else:
            chain = Chain(*build_entries(checks), workers=workers, all_checks=all_checks)
        stack.enter_context(chain)
        chain.setup(domains_of(samples))
        context = ChainContext(connection=con, read_only=True, rejudging=True)
        decisions: list[Decision | None] = [None] * len(samples)
        for batch in _batches(samples):
            for position, decision in zip(batch, chain.run([samples[i] for i in batch], context), strict=True):
                decisions[position] = decision
    for (row_id, _), decision in zip(rows, decisions, strict=True):
        assert decision is not None
        funnel.add(decision)
        out.write(_line(row_id, decision))
    return funnel
