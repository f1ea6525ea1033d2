"""The chain's last word at a shard's merge: the samples a shard accepted go through the chain's steps that judge
against the store (dedup) once more, now against the run's store, so a sample nearly equal to one merged from
another shard is rejected there as `near_duplicate`, naming the other. The chain decides, as in a run."""

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from cotfactory.filters.chain import Chain, ChainContext, Judging
from cotfactory.filters.checks import Sample, Verdict
from cotfactory.filters.parse import trace_of
from cotfactory.storage.records import VerdictRecord
from cotfactory.storage.shard_merge import Redecided, Rejudge

# Samples decided per group, and their characters: bounds the texts held in memory while a large shard merges.
GROUP = 2_000
GROUP_CHARS = 16_000_000

_SAMPLES_SQL = """
SELECT c.sample_id, c.completion, c.reasoning, c.finish_reason, c.completion_tokens, o.prompt_id, o.round,
       p.problem, p.reference, p.domain, p.target_language, p.tests
FROM _rejudged r JOIN completions c USING (sample_id)
JOIN outcomes o ON o.sample_id = r.sample_id AND o.run_id = ?
JOIN prompts p ON p.prompt_id = o.prompt_id
ORDER BY r.position
"""


def _group(con: duckdb.DuckDBPyConnection, run_id: str, ids: Sequence[str]) -> Judging:
    """The samples of these ids as the chain saw them in the shard, with their stored verdicts."""
    con.register("_rejudged", pa.table({"sample_id": list(ids), "position": list(range(len(ids)))}))
    try:
        rows = con.execute(_SAMPLES_SQL, [run_id]).fetchall()
        stored = con.execute(
            "SELECT v.sample_id, v.check_name, v.passed, v.score, v.reason, v.detail FROM verdicts v "
            "JOIN _rejudged r USING (sample_id) WHERE v.run_id = ?",
            [run_id],
        ).fetchall()
    finally:
        con.unregister("_rejudged")
    verdicts: dict[str, dict[str, Verdict]] = {sample_id: {} for sample_id in ids}
    for sample_id, check, passed, score, reason, detail in stored:
        verdicts[sample_id][check] = Verdict(bool(passed), reason, score, detail)
    samples = [
        Sample.from_completion(
            problem,
            completion,
            reasoning=reasoning if trace_of(completion, reasoning) != completion else None,  # sent apart
            reference=reference,
            domain=domain,
            target_language=target_language,
            finish_reason=finish_reason,
            completion_tokens=tokens,
            sample_id=sample_id,
            prompt_id=prompt_id,
            round=round_,
            tests=tests,
        )
        for sample_id, completion, reasoning, finish_reason, tokens, prompt_id, round_, problem, reference, domain,
        target_language, tests in rows
    ]  # fmt: skip
    return Judging(samples, [verdicts[s.sample_id] for s in samples])


def _groups(con: duckdb.DuckDBPyConnection, sample_ids: Sequence[str]) -> list[list[str]]:
    """The ids in order, cut into groups of at most GROUP samples and GROUP_CHARS characters of text (a sample
    longer than that is a group of its own)."""
    con.register("_sized", pa.table({"sample_id": list(sample_ids)}))
    try:
        sizes = dict(
            con.execute(
                "SELECT sample_id, length(completion) + coalesce(length(reasoning), 0) FROM completions "
                "WHERE sample_id IN (SELECT sample_id FROM _sized)"
            ).fetchall()
        )
    finally:
        con.unregister("_sized")
    groups: list[list[str]] = []
    chars = 0
    for sample_id in sample_ids:
        size = int(sizes.get(sample_id) or 0)
        if not groups or len(groups[-1]) >= GROUP or chars + size > GROUP_CHARS:
            groups.append([])
            chars = 0
        groups[-1].append(sample_id)
        chars += size
    return groups


def store_steps_rejudge(chain: Chain, run_id: str, *, rejudging: bool) -> Rejudge:
    """A merge's `rejudge`: the chain's store steps decide the shard's accepted samples against the run's store,
    in groups, in the shard's order; the samples they reject are returned with their new verdicts."""
    store_steps = [step.name for step in chain.steps if step.needs_store]

    def rejudge(con: duckdb.DuckDBPyConnection, sample_ids: Sequence[str]) -> list[Redecided]:
        redecided: list[Redecided] = []
        if not store_steps:
            return redecided
        for ids in _groups(con, sample_ids):
            judging = _group(con, run_id, ids)
            for verdicts in judging.verdicts:  # judged again here, against the run's store
                for name in store_steps:
                    verdicts.pop(name, None)
            decisions = chain.finish(judging, ChainContext(connection=con, rejudging=rejudging))
            for sample, decision in zip(judging.samples, decisions, strict=True):
                if decision.accepted:
                    continue
                changed = [
                    VerdictRecord(
                        run_id=run_id, sample_id=sample.sample_id, check_name=name, passed=v.passed,
                        score=v.score, reason=v.reason, detail=v.detail,
                    )
                    for name, v in decision.verdicts.items()
                    if name in store_steps
                ]  # fmt: skip
                redecided.append(Redecided(sample.sample_id, False, decision.check, decision.reason, changed))
        return redecided

    return rejudge
