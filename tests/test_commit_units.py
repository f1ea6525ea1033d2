"""What the commit step stores of a round: each completion under its own id (a server's separate reasoning is part
of it), and every token the round cost, the tokens of attempts that broke off and were sampled again included."""

from pathlib import Path

import pytest

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.dedup import DedupStep, StoredDedup
from cotfactory.filters.near_dup import MinHashParams
from cotfactory.filters.parse import trace_of
from cotfactory.filters.runner import build_checks
from cotfactory.flows.commit import commit_units
from cotfactory.samplers.base import Completion, SamplingParams
from cotfactory.samplers.units import Unit
from cotfactory.storage import PromptRecord, RunRecord, Store, query
from cotfactory.storage.run_cost import run_cost

WAYS = [
    "six sevens are forty two, counted as seven and seven and seven and seven and seven and seven in a row.",
    "seven sixes make forty two: take the six times table up to seven and read off the last entry there.",
    "halve it first: three times seven is twenty one, and doubling twenty one gives forty two in the end.",
    "ten sevens are seventy, less four sevens (twenty eight) leaves forty two, the same product again.",
]


def test_samples_that_reason_apart_to_one_answer_are_stored_apart_and_broken_attempts_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.duckdb")
    prompt = PromptRecord.create("What is 6 times 7?", source="t", reference="42")
    store.add_prompts([prompt])
    store.start_run(RunRecord(run_id="run-1", model="m"))
    answer = "The answer is \\boxed{42}."
    completions = [
        Completion(answer, finish_reason="stop", reasoning=f"Way {i}: {WAYS[i]}", completion_tokens=10,
                   retried_tokens=25 if i == 0 else 0)
        for i in range(4)
    ]  # fmt: skip
    completions.append(Completion(answer, finish_reason="stop", reasoning=f"Way 0: {WAYS[0]}",
                                  completion_tokens=10))  # fmt: skip
    dedup = DedupStep(StoredDedup(MinHashParams()))  # the answers are one text: the reasonings tell them apart
    with Chain(build_checks(["think_format", "math_verify"]), [dedup], workers=0) as chain:
        stored = commit_units(store, chain, "run-1", "m", [Unit(prompt, 0, SamplingParams(n=5))], [completions])
    assert (stored.samples, stored.accepted) == (4, 4), "four ways to the answer; the fifth repeats the first"
    reasonings = query("SELECT reasoning FROM completions ORDER BY reasoning", store.path).rows()
    assert [r[0] for r in reasonings] == [f"Way {i}: {WAYS[i]}" for i in range(4)]
    assert query("SELECT completion_tokens FROM run_rounds", store.path).rows() == [(5 * 10 + 25,)]
    with store.transaction() as con:
        cost = run_cost(con, "run-1")
    assert (cost.generated_tokens, cost.tokens_per_accepted) == (75, 75 / 4)


@pytest.mark.parametrize(
    ("completion", "reasoning", "trace"),
    [
        ("<think>\nWe add.\n</think>\n\n\\boxed{2}", "We add.", "<think>\nWe add.\n</think>\n\n\\boxed{2}"),
        ("Hi <think>We add.</think> \\boxed{2}", "Hi We add.", "Hi <think>We add.</think> \\boxed{2}"),
        ("We add, as the template opened.", "We add, as the template opened.", "We add, as the template opened."),
        ("The answer is \\boxed{2}.", "We add one and one.", "We add one and one.\n\nThe answer is \\boxed{2}."),
        ("Just \\boxed{2}.", "", "Just \\boxed{2}."),
    ],
    ids=["tagged", "preamble", "template-opened", "sent apart", "no reasoning"],
)
def test_a_stored_sample_s_trace_is_the_trace_the_run_deduplicated(completion: str, reasoning: str, trace: str):
    assert trace_of(completion, reasoning) == trace


def test_a_sample_sent_apart_is_deduplicated_on_its_reasoning_and_answer() -> None:
    sample = Sample.from_completion("What is 1 + 1?", "The answer is \\boxed{2}.", reasoning=" We add one and one. ")
    assert sample.trace == "We add one and one.\n\nThe answer is \\boxed{2}."
    assert trace_of(sample.completion, sample.reasoning) == sample.trace, "as the store reads it back"
