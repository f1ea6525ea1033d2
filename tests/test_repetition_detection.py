"""Loops end in the engine: `[sampling] repetition_detection` reaches both samplers (vLLM's SamplingParams, the
OpenAI server's body field), a sample the engine stopped as a loop is rejected by the `repetition` check, and a
server that refuses the field fails the run once, naming the setting."""

import pytest
from openai_server import OpenAIServer
from pydantic import ValidationError

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import build_checks
from cotfactory.samplers.base import (
    DEFAULT_REPETITION_DETECTION,
    RepetitionDetection,
    SamplerError,
    SamplingParams,
    requests_for,
)
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.1, "timeout_s": 10.0, "max_retries": 1}


def http(server: OpenAIServer) -> OpenAIHttpSampler:
    return OpenAIHttpSampler(OpenAIHttpConfig(base_url=server.url, model="r1", **FAST))


@pytest.mark.parametrize(
    ("setting", "sent"),
    [
        (None, DEFAULT_REPETITION_DETECTION.model_dump()),  # on by default
        (True, DEFAULT_REPETITION_DETECTION.model_dump()),
        ({"max_pattern_size": 40, "min_count": 5}, {"max_pattern_size": 40, "min_pattern_size": 1, "min_count": 5}),
        (False, None),
    ],
)
def test_the_setting_reaches_the_servers_request_body(setting: object, sent: dict | None) -> None:
    params = SamplingParams() if setting is None else SamplingParams(repetition_detection=setting)
    with OpenAIServer() as server:
        http(server).generate(requests_for(["What is 2 + 2?"], params))
    (body,) = server.requests
    assert body.get("repetition_detection") == sent


@pytest.mark.parametrize(
    "bad",
    [{"max_pattern_size": 4, "min_pattern_size": 8, "min_count": 4}, {"max_pattern_size": 4, "min_count": 1},
     {"max_pattern_size": 0, "min_count": 4}, {"max_pattern_size": 4, "min_count": 4, "min_cont": 3}],
)  # fmt: skip
def test_bad_settings_are_refused_by_name(bad: dict) -> None:
    with pytest.raises(ValidationError, match="repetition_detection"):
        SamplingParams(repetition_detection=bad)


def test_a_server_refusing_the_field_fails_once_naming_the_setting() -> None:
    with OpenAIServer() as server:
        server.script.append((400, {}, {"error": "Extra inputs are not permitted: repetition_detection"}))
        with pytest.raises(SamplerError, match=r"repetition_detection = false") as raised:
            http(server).generate(requests_for(["What is 2 + 2?"], SamplingParams()))
    assert "HTTP 400" in str(raised.value)
    assert len(server.requests) == 1, "a refusal is not retried"
    with OpenAIServer() as server:
        server.script.append((400, {}, {"error": "bad model"}))
        with pytest.raises(SamplerError) as other:
            http(server).generate(requests_for(["What is 2 + 2?"], SamplingParams(repetition_detection=False)))
    assert "repetition_detection" not in str(other.value), "named only when the request carried it"


@pytest.mark.parametrize(
    ("finish_reason", "check", "reason"),
    [("repetition", "repetition", "repetition"), ("length", "truncated", "truncated"), ("stop", None, None)],
)
def test_an_engine_stop_is_rejected_by_its_cause_before_the_unclosed_reasoning(
    finish_reason: str, check: str | None, reason: str | None
) -> None:
    cut = "<think>\nLet me add: 2 + 2 = 4. Wait, let me re-check: 2 + 2"
    closed = "<think>\nTwo and two make four.\n</think>\nThe answer is \\boxed{4}."
    text = closed if finish_reason == "stop" else cut
    sample = Sample.from_completion("What is 2 + 2?", text, reference="4", finish_reason=finish_reason)
    with Chain(build_checks(), workers=0) as chain:
        (decision,) = chain.run([sample])
    assert (decision.check, decision.reason) == (check, reason)


@pytest.mark.slow
def test_vllm_stops_a_forced_loop_in_the_engine(vllm_sampler) -> None:
    """Greedy decoding of a random tiny model falls into short cycles: with loop detection the engine ends them
    early as `repetition`; without, they run to max_tokens."""
    detection = RepetitionDetection(max_pattern_size=8, min_pattern_size=1, min_count=4)
    problems = [f"Count the letters of word number {i}." for i in range(6)]
    looping = SamplingParams(temperature=0.0, max_tokens=400, repetition_detection=detection)
    stopped = [c for (c,) in vllm_sampler.generate(requests_for(problems, looping))]
    unchecked = SamplingParams(temperature=0.0, max_tokens=400, repetition_detection=False)
    ran_on = [c for (c,) in vllm_sampler.generate(requests_for(problems, unchecked))]
    assert any(c.finish_reason == "repetition" for c in stopped), [c.finish_reason for c in stopped]
    assert all(c.finish_reason != "repetition" for c in ran_on)
    for early, full in zip(stopped, ran_on, strict=True):
        if early.finish_reason == "repetition":
            assert early.completion_tokens < full.completion_tokens
            assert full.text.startswith(early.text[: len(early.text) // 2]), "the same greedy path, cut short"
