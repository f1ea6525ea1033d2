"""The commit step of a run: a group of sampled units goes through the run's chain, and every sample is stored
with its decision, its verdicts and its unit's progress record in one transaction."""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from cotfactory.filters.chain import Chain, ChainContext, Decision
from cotfactory.filters.checks import Sample
from cotfactory.samplers.base import TARGET_MET, Completion
from cotfactory.samplers.units import Unit
from cotfactory.storage import JudgedSample, PromptRecord, RoundRecord, Store, VerdictRecord
from cotfactory.storage.ids import sample_id_for
from cotfactory.storage.records import CompletionRecord, OutcomeRecord
from cotfactory.storage.store import write_batch


@dataclass
class Committed:
    """What one commit stored: samples, accepted samples and completion tokens, and accepted per prompt."""

    samples: int
    accepted: int
    completion_tokens: int
    accepted_by_prompt: dict[str, int]
    target_met: int = 0  # samples stopped because their prompt had its target: no rejection


def sample_of(model: str, prompt: PromptRecord, round: int, completion: Completion) -> Sample:
    """One completion of a prompt's round as the chain sees it, with its sample id (the store's, computed here)."""
    return Sample.from_completion(
        prompt.problem,
        completion.text,
        reasoning=completion.reasoning,
        opened_by_template=completion.opened_by_template,
        reference=prompt.reference,
        domain=prompt.domain,
        target_language=prompt.target_language,
        finish_reason=completion.finish_reason,
        completion_tokens=completion.completion_tokens,
        sample_id=sample_id_for(prompt.prompt_id, model, completion.text, completion.reasoning),
        prompt_id=prompt.prompt_id,
        round=round,
        tests=json.dumps(prompt.tests) if prompt.tests else None,
    )


def samples_of(model: str, units: Sequence[Unit], completions: Sequence[Sequence[Completion]]) -> list[Sample]:
    """Every completion of these units as the chain sees it."""
    return [
        sample_of(model, unit.prompt, unit.round, completion)
        for unit, of_prompt in zip(units, completions, strict=True)
        for completion in of_prompt
    ]


def _records(
    run_id: str,
    units: Sequence[Unit],
    completions: Sequence[Sequence[Completion]],
    checked: Sequence[Sample],
    decisions: Sequence[Decision],
) -> tuple[list[JudgedSample], list[VerdictRecord], list[RoundRecord]]:
    samples, verdicts, rounds = [], [], []
    position = 0
    for unit, of_prompt in zip(units, completions, strict=True):
        tokens = 0
        for index, completion in enumerate(of_prompt):
            sample, decision = checked[position], decisions[position]
            position += 1
            stored = CompletionRecord(
                sample_id=sample.sample_id,
                prompt_id=unit.prompt.prompt_id,
                completion=completion.text,
                reasoning=sample.reasoning,
                answer=sample.answer,
                finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
            )
            outcome = OutcomeRecord(
                run_id=run_id,
                sample_id=sample.sample_id,
                prompt_id=unit.prompt.prompt_id,
                round=unit.round,
                sample_index=index,
                seed=completion.seed,
                **decision.outcome_fields(),
            )
            samples.append(JudgedSample(stored, outcome))
            verdicts.extend(
                VerdictRecord(
                    run_id=run_id,
                    sample_id=sample.sample_id,
                    check_name=name,
                    passed=verdict.passed,
                    score=verdict.score,
                    reason=verdict.reason,
                    detail=verdict.detail,
                )
                for name, verdict in decision.verdicts.items()
            )
            tokens += (completion.completion_tokens or completion.request_tokens or 0) + completion.retried_tokens
        # samples and accepted are counted by the store from the outcomes it stores
        rounds.append(
            RoundRecord(
                run_id=run_id,
                prompt_id=unit.prompt.prompt_id,
                round=unit.round,
                samples=0,
                accepted=0,
                completion_tokens=tokens,
            )
        )
    return samples, verdicts, rounds


def commit_units(
    store: Store,
    chain: Chain,
    run_id: str,
    model: str,
    units: Sequence[Unit],
    completions: Sequence[Sequence[Completion]],
    *,
    rejudging: bool = False,
    on_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Committed:
    """Decide every completion of these units (prompt rounds, of any rounds) with the run's chain and store them,
    their verdicts and their progress in one transaction; the chain's steps that use the store (dedup) judge
    inside it. `rejudging`: the completions are recorded ones served again (replay); `on_commit` writes more
    records in the same transaction."""
    checked = samples_of(model, units, completions)
    judging = chain.begin(checked, ChainContext(rejudging=rejudging))
    with store.transaction(checkpoint_on_close=False, memory_capped=True) as con:
        decisions = chain.finish(judging, ChainContext(connection=con, rejudging=rejudging))
        samples, verdicts, rounds = _records(run_id, units, completions, judging.samples, decisions)
        _, rounds = write_batch(con, samples, verdicts, rounds)
        if on_commit is not None:
            on_commit(con)
    by_prompt = {r.prompt_id: r.accepted for r in rounds}
    return Committed(
        samples=sum(r.samples for r in rounds),
        accepted=sum(by_prompt.values()),
        completion_tokens=sum(r.completion_tokens or 0 for r in rounds),
        accepted_by_prompt=by_prompt,
        target_met=sum(decision.check == TARGET_MET for decision in decisions),
    )
