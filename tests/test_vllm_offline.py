"""The real vLLM engine (CPU build) on a tiny random-weight model."""

import pytest

from cotfactory.filters.parse import parse_completion
from cotfactory.samplers.base import Sampler, SamplingParams, requests_for
from cotfactory.samplers.registry import SAMPLERS
from cotfactory.samplers.units import Unit, UnitQueue, stream_units
from cotfactory.storage import PromptRecord

pytestmark = pytest.mark.slow
PROBLEMS = [f"What is {i} + {i}?" for i in range(3)]


def texts(results: list) -> list[list[str]]:
    return [[completion.text for completion in completions] for completions in results]


def test_n_completions_per_prompt_in_prompt_order(vllm_sampler) -> None:
    assert isinstance(vllm_sampler, Sampler)
    params = SamplingParams(n=3, max_tokens=24, temperature=1.0, seed=7)
    forward = vllm_sampler.generate(requests_for(PROBLEMS, params))
    assert [len(completions) for completions in forward] == [3, 3, 3]
    backward = vllm_sampler.generate(requests_for(PROBLEMS[::-1], params))
    assert texts(backward) == texts(forward)[::-1], "each prompt's samples depend on the prompt, not its position"
    for completions in forward:
        assert len(set(c.text for c in completions)) == 3, "the n samples of one request differ"


def test_finish_reasons_and_token_counts(vllm_sampler) -> None:
    params = SamplingParams(n=4, max_tokens=16, temperature=1.0)
    requests = requests_for(PROBLEMS, params)
    results = vllm_sampler.generate(requests)
    tokenizer = vllm_sampler.tokenizer
    for request, completions in zip(requests, results, strict=True):
        rendered = vllm_sampler.render(request)
        assert rendered.endswith("<|assistant|><think>\n")
        expected_prompt_tokens = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
        for completion in completions:
            assert completion.finish_reason in ("stop", "length")
            assert completion.prompt_tokens == expected_prompt_tokens
            assert 0 < completion.completion_tokens <= 16 or completion.finish_reason == "stop"
            if completion.finish_reason == "length":
                assert completion.completion_tokens == 16
            assert completion.opened_by_template
            assert parse_completion(completion.text, opened_by_template=True).think in ("unclosed", "template_opened")
    assert any(c.finish_reason == "length" for cs in results for c in cs)


def test_same_seed_reproduces_and_rounds_differ(vllm_sampler) -> None:
    round_0 = SamplingParams(n=2, max_tokens=16, temperature=1.0, seed=100)
    round_1 = round_0.model_copy(update={"seed": 101})
    first = vllm_sampler.generate(requests_for(PROBLEMS, round_0))
    assert texts(vllm_sampler.generate(requests_for(PROBLEMS, round_0))) == texts(first)
    second = vllm_sampler.generate(requests_for(PROBLEMS, round_1, round=1))
    first_texts = {text for texts_of_prompt in texts(first) for text in texts_of_prompt}
    second_texts = {text for texts_of_prompt in texts(second) for text in texts_of_prompt}
    assert not first_texts & second_texts, "a new round repeats no sample"
    assert [c.seed for c in first[0]] != [c.seed for c in second[0]]


def test_seeded_batch_larger_than_one_prefill_budget(vllm_sampler) -> None:
    problems = [f"Problem {i}: what is {i} times {i}, and why?" for i in range(120)]
    results = vllm_sampler.generate(requests_for(problems, SamplingParams(n=2, max_tokens=4, temperature=1.0)))
    assert [len(completions) for completions in results] == [2] * 120
    assert sum(c.prompt_tokens for c in (cs[0] for cs in results)) > 4096, "more prompt tokens than one step takes"


def test_streamed_units_and_generate_agree_per_prompt_and_round(vllm_sampler) -> None:
    """The same (prompt, round) gives the same completions whichever way it reaches the engine: streamed as a
    unit, or in one `generate` call mixing rounds (each request carries its own round's params)."""
    rounds = [SamplingParams(n=2, max_tokens=12, temperature=1.0, seed=seed) for seed in (40, 41)]
    prompts = [PromptRecord.create(problem, source="t") for problem in PROBLEMS]
    units = UnitQueue()
    for round_index, params in enumerate(rounds):
        for prompt in prompts:
            units.put(Unit(prompt, round_index, params))
    streamed: dict[tuple[str, int], list[str]] = {}

    def done(unit: Unit, completions: list) -> None:
        streamed[(unit.prompt.prompt_id, unit.round)] = [c.text for c in completions]
        units.finished()

    stream_units(vllm_sampler, units, done, streams=SAMPLERS["vllm"].streams, batch_size=4)
    mixed = [Unit(prompt, round_index, rounds[round_index]).request for prompt in prompts for round_index in (1, 0)]
    generated = vllm_sampler.generate(mixed)
    assert {(r.prompt_id, r.round): [c.text for c in cs] for r, cs in zip(mixed, generated, strict=True)} == streamed
    assert len(streamed) == 6 and streamed[(prompts[0].prompt_id, 0)] != streamed[(prompts[0].prompt_id, 1)]


def test_a_watched_sample_is_aborted_in_the_engine_and_a_met_target_stops_the_rest(vllm_sampler) -> None:
    """The random model writes text: a check whose limit it passes at once (too_long at 20 characters) aborts
    each sample in the engine, with the text and tokens it had; with `settle` saying the target is met, the
    round's other samples are stopped as target_met."""
    from cotfactory.filters.chain import Chain
    from cotfactory.filters.prefix import PromptContext
    from cotfactory.filters.runner import build_checks

    prompt = PromptRecord.create(PROBLEMS[0], source="t")
    params = SamplingParams(n=3, max_tokens=64, temperature=1.0, seed=5)
    with Chain(build_checks([{"name": "too_long", "max_chars": 20}]), workers=0) as chain:
        context = PromptContext(prompt.problem)
        watched = Unit(prompt, 0, params, lambda opened: chain.stream_judge(context, opened_by_template=opened))
        met = Unit(prompt, 1, params, settle=lambda completion: True)
        units = UnitQueue()
        for unit in (watched, met):
            units.put(unit)
        got: dict[int, list] = {}

        def done(unit: Unit, completions: list) -> None:
            got[unit.round] = completions
            units.finished()

        stream_units(vllm_sampler, units, done, streams=True, batch_size=4)
    for completion in got[0]:  # a sample that ended on its own before 20 characters is not aborted
        aborted = completion.finish_reason == "aborted:too_long"
        assert aborted == (len(completion.text) > 20), completion
        assert not aborted or (len(completion.text) < 200 and 0 < completion.completion_tokens < 64)
    assert any(c.finish_reason == "aborted:too_long" for c in got[0])
    stopped = [c for c in got[1] if c.finish_reason == "aborted:target_met"]
    assert 1 <= len(stopped) <= 2 and all(c.completion_tokens < 64 for c in stopped), got[1]
    assert any(c.finish_reason in ("stop", "length") for c in got[1]), "the sample that ended met the target"
