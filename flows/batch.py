"""A group of sampled units of a run: put it through the check chain (the per-sample checks, then the stages
that judge it against benchmarks and the store), decide each sample once, and store it in one transaction with
its progress records."""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import CheckRunner, Decision
from cotfactory.flows.stages import BatchStage
from cotfactory.samplers.base import Completion
from cotfactory.samplers.units import Unit
from cotfactory.storage import RoundRecord, SampleRecord, Store, VerdictRecord
from cotfactory.storage.store import write_batch


@dataclass
class StoredBatch:
    samples: int
    accepted: int
    completion_tokens: int
    accepted_by_prompt: dict[str, int]


def _records(
    run_id: str,
    model: str,
    units: Sequence[Unit],
    completions: Sequence[Sequence[Completion]],
    checked: Sequence[Sample],
    decisions: Sequence[Decision],
) -> tuple[list[SampleRecord], list[VerdictRecord], list[RoundRecord]]:
    samples, verdicts, rounds = [], [], []
    position = 0
    for unit, of_prompt in zip(units, completions, strict=True):
        prompt, round_index = unit.prompt, unit.round
        tokens = 0
        for index, completion in enumerate(of_prompt):
            sample, decision = checked[position], decisions[position]
            position += 1
            record = SampleRecord.create(
                prompt_id=prompt.prompt_id,
                model=model,
                completion=completion.text,
                run_id=run_id,
                round=round_index,
                sample_index=index,
                seed=completion.seed,
                reasoning=sample.reasoning,
                answer=sample.answer,
                finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                accepted=decision.accepted,
                reject_check=decision.check,
                reject_reason=decision.reason,
            )
            samples.append(record)
            verdicts.extend(
                VerdictRecord(
                    run_id=run_id,
                    sample_id=record.sample_id,
                    check_name=name,
                    passed=verdict.passed,
                    score=verdict.score,
                    reason=verdict.reason,
                    detail=verdict.detail,
                )
                for name, verdict in decision.verdicts.items()
            )
            tokens += completion.completion_tokens or completion.request_tokens or 0
        # samples and accepted are counted by the store from the outcomes it stores
        rounds.append(
            RoundRecord(
                run_id=run_id,
                prompt_id=prompt.prompt_id,
                round=round_index,
                samples=0,
                accepted=0,
                completion_tokens=tokens,
            )
        )
    return samples, verdicts, rounds


def check_and_store(
    store: Store,
    checker: CheckRunner,
    run_id: str,
    model: str,
    units: Sequence[Unit],
    completions: Sequence[Sequence[Completion]],
    stages: Sequence[BatchStage] = (),
    on_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> StoredBatch:
    """Check every completion of these units (prompt rounds, of any rounds); then, in one transaction, run the
    batch stages (each sees which samples every earlier check passed), decide each sample once, and store
    samples, verdicts and progress; `on_commit` writes more records in the same transaction."""
    checked = [
        Sample.from_completion(
            unit.prompt.problem,
            completion.text,
            reasoning=completion.reasoning,
            opened_by_template=completion.opened_by_template,
            reference=unit.prompt.reference,
            domain=unit.prompt.domain,
            target_language=unit.prompt.target_language,
            finish_reason=completion.finish_reason,
            completion_tokens=completion.completion_tokens,
            prompt_id=unit.prompt.prompt_id,
            tests=json.dumps(unit.prompt.tests) if unit.prompt.tests else None,
        )
        for unit, of_prompt in zip(units, completions, strict=True)
        for completion in of_prompt
    ]
    verdicts = checker.verdicts(checked)
    with store.transaction(checkpoint_on_close=False, memory_capped=True) as con:
        for stage in stages:
            passing = [i for i, of_sample in enumerate(verdicts) if not checker.failures(of_sample)]
            for position, verdict in stage.judge(con, checked, passing).items():
                verdicts[position][stage.name] = verdict
        decisions = [checker.decide(of_sample) for of_sample in verdicts]
        samples, verdicts, rounds = _records(run_id, model, units, completions, checked, decisions)
        _, rounds = write_batch(con, samples, verdicts, rounds)
        if on_commit is not None:
            on_commit(con)
    by_prompt = {r.prompt_id: r.accepted for r in rounds}
    return StoredBatch(
        samples=sum(r.samples for r in rounds),
        accepted=sum(by_prompt.values()),
        completion_tokens=sum(r.completion_tokens or 0 for r in rounds),
        accepted_by_prompt=by_prompt,
    )
