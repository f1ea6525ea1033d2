"""Decontamination and dedup are steps of the check chain: they add verdicts, and each sample's outcome (accepted,
or its first failing check) is decided once, from every verdict, in the chain's order."""

import json
from pathlib import Path

from cotfactory.filters.chain import Chain
from cotfactory.filters.decontam import Decontaminator, DecontamStep, register_benchmark
from cotfactory.filters.dedup import DedupStep, StoredDedup
from cotfactory.filters.near_dup import MinHashParams
from cotfactory.filters.runner import build_checks
from cotfactory.flows.commit import commit_units
from cotfactory.samplers.base import Completion, SamplingParams
from cotfactory.samplers.units import Unit
from cotfactory.storage import PromptRecord, Store, query

BENCHMARK_PROBLEM = "Compute the number of ordered pairs of positive integers whose product is seventy two exactly."


def boxed(answer: str) -> str:
    return answer.split("boxed{")[1].split("}")[0]


def _answer(value: str, words: str) -> Completion:
    text = f"<think>\n{words} So the count is {value}.\n</think>\nThe answer is $\\boxed{{{value}}}$."
    return Completion(text, finish_reason="stop")


def test_a_contaminated_or_duplicate_sample_is_decided_once_by_its_first_failing_check(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.duckdb")
    (tmp_path / "bench.jsonl").write_text(json.dumps({"problem": BENCHMARK_PROBLEM}) + "\n")
    register_benchmark(store, "bench", [tmp_path / "bench.jsonl"])
    contaminated = PromptRecord.create(BENCHMARK_PROBLEM, source="t", reference="12")
    first = PromptRecord.create("How many divisors does seventy two have?", source="t", reference="12")
    second = PromptRecord.create("How many divisors does the number 72 have in all?", source="t", reference="12")
    store.add_prompts([contaminated, first, second])
    shared = _answer("12", "Seventy two is two cubed times three squared, so it has four times three divisors.")
    params = SamplingParams(n=2, seed=1)
    units = [Unit(contaminated, 0, params), Unit(first, 0, params), Unit(second, 0, params)]
    completions = [
        [_answer("12", "Each divisor d gives the pair (d, 72 / d)."), _answer("11", "I count eleven pairs.")],
        [shared, _answer("13", "There are thirteen.")],
        [shared, _answer("12", "Listing them: 1 2 3 4 6 8 9 12 18 24 36 72, twelve in all.")],
    ]
    with store.transaction() as con:
        steps = [DecontamStep(Decontaminator(con, ["bench"])), DedupStep(StoredDedup(MinHashParams()))]
    chain = Chain(build_checks(["think_format", "math_verify"]), steps, workers=0)
    stored = commit_units(store, chain, "run-1", "m", units, completions)

    outcomes = query(
        "SELECT o.prompt_id, c.answer, o.accepted, o.reject_check, o.reject_reason FROM outcomes o "
        "JOIN completions c USING (sample_id) ORDER BY o.prompt_id, o.sample_index", store.path
    ).rows()  # fmt: skip
    by_prompt: dict[str, list[tuple[str, bool, str | None, str | None]]] = {}
    for prompt_id, answer, accepted, check, reason in outcomes:
        by_prompt.setdefault(prompt_id, []).append((boxed(answer), accepted, check, reason))
    # the wrong answer keeps its first failing check, though its prompt is contaminated too
    assert by_prompt[contaminated.prompt_id] == [
        ("12", False, "decontam", "contaminated"),
        ("11", False, "math_verify", "wrong_answer"),
    ]
    assert by_prompt[first.prompt_id] == [("12", True, None, None), ("13", False, "math_verify", "wrong_answer")]
    assert by_prompt[second.prompt_id] == [("12", False, "dedup", "duplicate"), ("12", True, None, None)]
    assert stored.accepted == 2
    verdicts = query("SELECT check_name, count(*) FROM verdicts GROUP BY ALL ORDER BY 1", store.path).rows()
    # decontamination judges every sample; dedup only those every earlier check passed
    assert dict(verdicts) == {"decontam": 6, "dedup": 3, "math_verify": 6, "think_format": 6}
