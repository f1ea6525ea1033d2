"""A group of sampled units of a run: check, decontaminate and deduplicate it, and store it in one transaction
with its progress records."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cotfactory.filters.checks import Sample, failed, passed
from cotfactory.filters.runner import CheckRunner, Decision
from cotfactory.flows.decontam import Decontaminator
from cotfactory.flows.dedup import CHECK_NAME as DEDUP_CHECK
from cotfactory.flows.dedup import StoredDedup
from cotfactory.samplers.base import Completion, Sampler
from cotfactory.samplers.units import Unit
from cotfactory.storage import PromptRecord, RoundRecord, SampleRecord, Store, VerdictRecord
from cotfactory.storage.ids import sample_id_for
from cotfactory.storage.store import write_batch

DECONTAM_CHECK = "decontam"


def replays(sampler: Sampler) -> bool:
    """Whether the sampler serves recorded completions (replay) rather than sampling new ones."""
    return bool(getattr(sampler, "replays", False))


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


def _decontaminate(
    decontaminator: Decontaminator,
    prompts: Sequence[PromptRecord],
    checked: Sequence[Sample],
    decisions: Sequence[Decision],
) -> None:
    """Samples of a prompt that overlaps a registered benchmark are rejected, naming the shared n-gram."""
    found = {p.prompt_id: decontaminator.find(p.problem) for p in prompts}
    for sample, decision in zip(checked, decisions, strict=True):
        hit = found[sample.prompt_id]
        decision.verdicts[DECONTAM_CHECK] = passed() if hit is None else failed("contaminated", None, str(hit))
        if hit is not None and decision.accepted:
            decision.reject(DECONTAM_CHECK, "contaminated")


def _deduplicate(
    con: Any,
    dedup: StoredDedup,
    model: str,
    checked: Sequence[Sample],
    decisions: Sequence[Decision],
    *,
    rejudging: bool,
) -> None:
    """The accepted samples go through dedup; a duplicate is rejected with the kept sample's id."""
    accepted = [i for i, decision in enumerate(decisions) if decision.accepted]
    ids = [sample_id_for(checked[i].prompt_id, model, checked[i].completion) for i in accepted]
    texts = [checked[i].completion for i in accepted]
    for index, verdict in zip(accepted, dedup.apply(con, ids, texts, rejudging=rejudging), strict=True):
        decisions[index].verdicts[DEDUP_CHECK] = verdict
        if not verdict.passed:
            decisions[index].reject(DEDUP_CHECK, verdict.reason)


def check_and_store(
    store: Store,
    checker: CheckRunner,
    run_id: str,
    model: str,
    units: Sequence[Unit],
    completions: Sequence[Sequence[Completion]],
    dedup: StoredDedup | None = None,
    decontaminator: Decontaminator | None = None,
    rejudging: bool = False,
) -> StoredBatch:
    """Check every completion of these units (prompt rounds, of any rounds), then, in one transaction,
    deduplicate the accepted ones against the store and store samples, verdicts and progress. `rejudging`: the
    completions are recorded ones served again (replay), so one the store already holds is the same sample,
    not a duplicate of it."""
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
    decisions = checker.run(checked)
    if decontaminator is not None:
        _decontaminate(decontaminator, [unit.prompt for unit in units], checked, decisions)
    with store.transaction(checkpoint_on_close=False) as con:
        if dedup is not None:
            _deduplicate(con, dedup, model, checked, decisions, rejudging=rejudging)
        samples, verdicts, rounds = _records(run_id, model, units, completions, checked, decisions)
        _, rounds = write_batch(con, samples, verdicts, rounds)
    by_prompt = {r.prompt_id: r.accepted for r in rounds}
    return StoredBatch(
        samples=sum(r.samples for r in rounds),
        accepted=sum(by_prompt.values()),
        completion_tokens=sum(r.completion_tokens or 0 for r in rounds),
        accepted_by_prompt=by_prompt,
    )
