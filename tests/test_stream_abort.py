"""Samples aborted mid-stream: each prefix-monotone check stops a doomed stream from a real local server, which
sees the client go away; the stored prefix is judged as its stream was; nothing else is ever aborted."""

import math
import random
from collections.abc import Callable

import pytest
from openai_server import OpenAIServer

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.prefix import PromptContext
from cotfactory.filters.runner import DEFAULT_CHECKS, build_checks
from cotfactory.samplers.base import Completion, SampleRequest, SamplingParams
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.storage.ids import prompt_id_for

PROBLEM = "What is 6 times 7?"
FILLER = "We multiply step by step and keep every partial product in view, checking each digit as we go."
LINE = "Let me recompute the product of six and seven carefully, digit by digit, from the very start."


_VOCABULARY = "partial product digit carry column row sum check value factor term result order place tens units "
WORDS = f"{_VOCABULARY}multiply add keep write next first second third again then so we now see".split()


def paragraphs(count: int, seed: int = 0) -> list[str]:
    """Reasoning paragraphs of about 100 characters, none repeating another (no n-gram loop)."""
    rng = random.Random(seed)
    return [f"Step {index}: " + " ".join(rng.choice(WORDS) for _ in range(14)) + "." for index in range(count)]


def r1(reasoning: list[str]) -> str:
    return "<think>\n" + "\n\n".join(reasoning) + "\n</think>\n\nSo the product is \\boxed{42}."


# (check, its reason, the paragraph that dooms the sample, the checks list); 300 paragraphs follow it
DOOMS: list[tuple[str, str, list[str], list]] = [
    ("language", "language_mixed", ["然后我们检查一下这个结果。"], list(DEFAULT_CHECKS)),
    ("think_format", "extra_think_tags", ["<think> Let me start over from the beginning."], list(DEFAULT_CHECKS)),
    ("code_in_reasoning", "code_in_reasoning", ["```python\nprint(6 * 7)\n```"], list(DEFAULT_CHECKS)),
    ("repetition", "repetition", [LINE] * 4, list(DEFAULT_CHECKS)),
    ("long_paragraph", "long_paragraph", [" ".join([FILLER] * 40)], list(DEFAULT_CHECKS)),
    ("too_long", "too_long", [], [c if c != "too_long" else {"name": "too_long", "max_chars": 3000}
                                  for c in DEFAULT_CHECKS]),
]  # fmt: skip


def stream_one(server: OpenAIServer, chain: Chain, domain: str = "math") -> Completion:
    context = PromptContext(PROBLEM, domain)
    request = SampleRequest(
        prompt_id_for(PROBLEM),
        PROBLEM,
        SamplingParams(n=1),
        watch=lambda opened: chain.stream_judge(context, opened_by_template=opened),
    )
    config = OpenAIHttpConfig(base_url=server.url, model="m", timeout_s=30.0)
    ((completion,),) = OpenAIHttpSampler(config).generate([request])
    return completion


def serving(text: str) -> Callable[[dict, int], dict]:
    return lambda body, index: {"role": "assistant", "content": text}


@pytest.mark.parametrize(("check", "reason", "doom", "checks"), DOOMS, ids=[d[0] for d in DOOMS])
def test_each_prefix_monotone_check_aborts_its_doomed_stream(
    check: str, reason: str, doom: list, checks: list
) -> None:
    full = r1([*paragraphs(3), *doom, *paragraphs(300)])
    with OpenAIServer(serving(full)) as server, Chain(build_checks(checks), workers=0) as chain:
        server.chunk_delay_s = 0.001  # generation speed: the whole stream would take seconds
        completion = stream_one(server, chain)
        assert server.disconnected.wait(timeout=30), "the server saw the client go away"
        total_chunks = math.ceil(len(full) / server.chunk_chars)
        assert server.disconnects[0] < total_chunks / 4, "the server stopped generating at the abort"
    assert completion.finish_reason == f"aborted:{check}"
    assert full.startswith(completion.text) and len(completion.text) < len(full) / 4
    # the tokens are the server's count for what was streamed (one per 8-character chunk here)
    assert completion.completion_tokens == math.ceil(len(completion.text) / 8)
    sample = Sample.from_completion(
        PROBLEM,
        completion.text,
        finish_reason=completion.finish_reason,
        completion_tokens=completion.completion_tokens,
    )
    (decision,) = chain.run([sample])
    assert (decision.accepted, decision.check, decision.reason) == (False, check, reason)
    (whole,) = chain.run([Sample.from_completion(PROBLEM, full, finish_reason="stop")])
    assert not whole.accepted, "the whole sample fails too: nothing that could pass was aborted"


def test_a_clean_stream_runs_to_its_end_and_passes() -> None:
    full = r1(paragraphs(120))
    with OpenAIServer(serving(full)) as server, Chain(build_checks(), workers=0) as chain:
        completion = stream_one(server, chain)
        assert server.disconnects == []
    assert (completion.text, completion.finish_reason) == (full, "stop")


def test_code_fences_do_not_abort_a_code_problem() -> None:
    full = r1([*paragraphs(2), "```python\nprint(6 * 7)\n```", *paragraphs(40)])
    with OpenAIServer(serving(full)) as server, Chain(build_checks(), workers=0) as chain:
        completion = stream_one(server, chain, domain="code")
    assert (completion.text, completion.finish_reason) == (full, "stop")


def test_a_doom_in_the_last_paragraph_is_found_when_the_reasoning_closes() -> None:
    full = r1([*paragraphs(3), "最后答案是四十二。"]) + " " + " ".join([FILLER] * 200)
    with OpenAIServer(serving(full)) as server, Chain(build_checks(), workers=0) as chain:
        completion = stream_one(server, chain)
    assert completion.finish_reason == "aborted:language"
    assert "</think>" in completion.text and len(completion.text) < len(full) / 2


def test_without_a_watch_nothing_is_aborted() -> None:
    full = r1([*paragraphs(3), "然后我们检查一下这个结果。", *paragraphs(30)])
    with OpenAIServer(serving(full)) as server:
        config = OpenAIHttpConfig(base_url=server.url, model="m")
        ((completion,),) = OpenAIHttpSampler(config).generate([SampleRequest("p", PROBLEM, SamplingParams(n=1))])
    assert (completion.text, completion.finish_reason) == (full, "stop")


def test_a_server_that_ignores_stream_answers_whole_and_is_taken_as_it_is() -> None:
    full = r1([*paragraphs(3), "然后我们检查一下这个结果。", *paragraphs(3)])
    with OpenAIServer(serving(full)) as server, Chain(build_checks(), workers=0) as chain:
        server.ignore_stream = True
        completion = stream_one(server, chain)
        assert server.requests[0]["stream"] is True
    assert (completion.text, completion.finish_reason, completion.completion_tokens) == (full, "stop", 7)


def test_hostile_text_in_a_stream_is_judged_as_it_is_stored() -> None:
    """Lone surrogates and NULs in the stream: the judge reads the text the store holds (escaped), so the stored
    prefix is decided as its stream was."""
    hostile = "Step x: \udc80 odd \x00 bytes \ud83d here."
    full = r1([*paragraphs(2), hostile, "然后我们检查一下这个结果。", *paragraphs(200)])
    with OpenAIServer(serving(full)) as server, Chain(build_checks(), workers=0) as chain:
        completion = stream_one(server, chain)
    assert completion.finish_reason == "aborted:language"
    assert "\\udc80" in completion.text and "\\ud83d" in completion.text and "\x00" in completion.text
    sample = Sample.from_completion(
        PROBLEM,
        completion.text,
        finish_reason=completion.finish_reason,
        completion_tokens=completion.completion_tokens,
    )
    assert sample.completion == completion.text, "nothing left to escape: the judge saw the stored text"
    (decision,) = chain.run([sample])
    assert (decision.check, decision.reason) == ("language", "language_mixed")
