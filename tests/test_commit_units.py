"""What the commit step stores of a round: each completion under its own id (a server's separate reasoning is part
of it), and every token the round cost, the tokens of attempts that broke off and were sampled again included."""

from pathlib import Path

from cotfactory.filters.chain import Chain
from cotfactory.filters.runner import build_checks
from cotfactory.flows.commit import commit_units
from cotfactory.samplers.base import Completion, SamplingParams
from cotfactory.samplers.units import Unit
from cotfactory.storage import PromptRecord, RunRecord, Store, query
from cotfactory.storage.run_cost import run_cost


def test_samples_that_reason_apart_to_one_answer_are_stored_apart_and_broken_attempts_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.duckdb")
    prompt = PromptRecord.create("What is 6 times 7?", source="t", reference="42")
    store.add_prompts([prompt])
    store.start_run(RunRecord(run_id="run-1", model="m"))
    answer = "The answer is \\boxed{42}."
    completions = [
        Completion(answer, finish_reason="stop", reasoning=f"Way {i}: six sevens are 42.", completion_tokens=10,
                   retried_tokens=25 if i == 0 else 0)
        for i in range(4)
    ]  # fmt: skip
    completions.append(Completion(answer, finish_reason="stop", reasoning="Way 0: six sevens are 42.",
                                  completion_tokens=10))  # fmt: skip
    with Chain(build_checks(["think_format", "math_verify"]), workers=0) as chain:
        stored = commit_units(store, chain, "run-1", "m", [Unit(prompt, 0, SamplingParams(n=5))], [completions])
    assert (stored.samples, stored.accepted) == (4, 4), "four ways to the answer; the fifth repeats the first"
    reasonings = query("SELECT reasoning FROM completions ORDER BY reasoning", store.path).rows()
    assert [r[0] for r in reasonings] == [f"Way {i}: six sevens are 42." for i in range(4)]
    assert query("SELECT completion_tokens FROM run_rounds", store.path).rows() == [(5 * 10 + 25,)]
    with store.transaction() as con:
        cost = run_cost(con, "run-1")
    assert (cost.generated_tokens, cost.tokens_per_accepted) == (75, 75 / 4)
