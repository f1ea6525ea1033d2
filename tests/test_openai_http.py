"""The OpenAI-compatible sampler against a real HTTP server on 127.0.0.1."""

import logging
import threading

import pytest
from openai_server import OpenAIServer
from pydantic import ValidationError

from cotfactory.samplers.base import PromptTemplate, SamplerError, SamplingParams, requests_for
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler

PROBLEMS = [f"What is {i} + {i}?" for i in range(4)]
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 2.0, "timeout_s": 10.0}


def sampler(server: OpenAIServer, **options: object) -> OpenAIHttpSampler:
    return OpenAIHttpSampler(OpenAIHttpConfig(base_url=server.url, model="tiny-r1", **{**FAST, **options}))


@pytest.mark.parametrize("stream", [True, False])
def test_one_request_per_sample_in_prompt_order(stream: bool) -> None:
    with OpenAIServer() as server:
        params = SamplingParams(n=3, temperature=0.7, max_tokens=256, top_k=20, stop=["</s>"])
        template = PromptTemplate(system="Think first.", suffix="Box the answer.")
        requests = requests_for(PROBLEMS, params)
        results = sampler(server, template=template, stream=stream).generate(requests)
    assert [len(r) for r in results] == [3, 3, 3, 3]
    assert len(server.requests) == 12, "one request per sample"
    for request, completions in zip(requests, results, strict=True):
        bodies = sorted(
            (b for b in server.requests if b["messages"][-1]["content"] == f"{request.problem}\nBox the answer."),
            key=lambda b: b["seed"],
        )
        for body in bodies:
            assert body["messages"][0] == {"role": "system", "content": "Think first."}
            assert (body["model"], body["n"], body["temperature"], body["top_p"]) == ("tiny-r1", 1, 0.7, 0.95)
            assert (body["max_tokens"], body["top_k"], body["stop"]) == (256, 20, ["</s>"])
            assert "repetition_penalty" not in body, "vLLM-only fields are sent only when set"
            assert body.get("stream", False) is stream
        assert [b["seed"] for b in bodies] == [request.seed + i for i in range(3)] == [c.seed for c in completions]
        assert [c.text[-2] for c in completions] == [str((request.seed + i) % 10) for i in range(3)]
        assert {c.finish_reason for c in completions} == {"stop"} and completions[0].prompt_tokens == 12
        # streamed: the server counts a token per chunk of 8 characters; whole: its usage says 7
        tokens = [-(-len(c.text) // 8) if stream else 7 for c in completions]
        assert [c.completion_tokens for c in completions] == tokens


def test_a_streamed_round_equals_the_same_round_whole() -> None:
    requests = requests_for(PROBLEMS[:2], SamplingParams(n=3))
    with OpenAIServer() as server:
        streamed = sampler(server).generate(requests)
        whole = sampler(server, stream=False).generate(requests)
    assert [[c.text for c in r] for r in streamed] == [[c.text for c in r] for r in whole]
    assert server.requests[0]["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}


def test_reasoning_content_is_read_apart() -> None:
    with OpenAIServer() as server:
        server.split_reasoning = True
        (completions,) = sampler(server).generate(requests_for(PROBLEMS[:1], SamplingParams(n=1)))
        (whole,) = sampler(server, stream=False).generate(requests_for(PROBLEMS[:1], SamplingParams(n=1)))
    assert completions[0].reasoning.startswith("working, seed") and completions[0].reasoning == whole[0].reasoning
    assert "</think>" not in completions[0].text and completions[0].text == whole[0].text


def test_retries_429_and_500_honouring_retry_after() -> None:
    with OpenAIServer() as server:
        server.script.extend([(429, {"Retry-After": "1"}, {"error": "slow down"}), (500, {}, {"error": "oops"})])
        (completions,) = sampler(server).generate(requests_for(PROBLEMS[:1], SamplingParams(n=1)))
    assert len(completions) == 1
    assert len(server.requests) == 3
    assert server.arrivals[1] - server.arrivals[0] >= 0.95, "waited as long as Retry-After asked"


@pytest.mark.parametrize(
    "header", ["soon", "", "nan", "inf", "-5", "Tue, 99 Foo 2026 25:61:00 GMT", "1e999", "Wed, 21 Oct 2015 07:28:00"]
)
def test_a_malformed_retry_after_falls_back_to_backoff(header: str) -> None:
    with OpenAIServer() as server:
        server.script.append((503, {"Retry-After": header}, {"error": "busy"}))
        (completions,) = sampler(server).generate(requests_for(PROBLEMS[:1], SamplingParams(n=1)))
    assert len(completions) == 1 and len(server.requests) == 2
    assert server.arrivals[1] - server.arrivals[0] < 2.5, "no wait longer than backoff_max_s"


def test_gives_up_after_the_retry_budget_naming_the_endpoint() -> None:
    with OpenAIServer() as server:
        server.script.extend([(503, {}, {"error": "down"})] * 3)
        with pytest.raises(SamplerError, match=rf"{server.url}/chat/completions failed after 3 attempts.*HTTP 503"):
            sampler(server, max_retries=2).generate(requests_for(PROBLEMS[:1], SamplingParams()))
    assert len(server.requests) == 3


def test_client_errors_are_not_retried() -> None:
    with OpenAIServer() as server:
        server.script.append((401, {}, {"error": "bad key"}))
        with pytest.raises(SamplerError, match="HTTP 401"):
            sampler(server).generate(requests_for(PROBLEMS[:1], SamplingParams()))
    assert len(server.requests) == 1


def test_timeouts_are_retried_then_reported() -> None:
    with OpenAIServer() as server:
        server.hold = threading.Event()
        with pytest.raises(SamplerError, match=r"failed after 2 attempts, last: timed out after 0\.3s"):
            sampler(server, timeout_s=0.3, max_retries=1).generate(requests_for(PROBLEMS[:1], SamplingParams()))


def test_unreachable_server() -> None:
    with OpenAIServer() as server:
        url = server.url
    config = OpenAIHttpConfig(base_url=url, model="m", max_retries=1, **FAST)
    with pytest.raises(SamplerError, match="connection failed"):
        OpenAIHttpSampler(config).generate(requests_for(PROBLEMS[:1], SamplingParams()))


def test_concurrency_never_exceeds_the_limit() -> None:
    requests = requests_for([f"Problem {i}" for i in range(16)], SamplingParams(n=1))
    with OpenAIServer() as server:
        server.gate = threading.Barrier(4)  # each request waits until 4 are in flight together
        results = sampler(server, max_concurrency=4).generate(requests)
    assert [len(r) for r in results] == [1] * 16
    assert server.max_in_flight == 4


def test_api_key_from_environment_sent_and_never_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TEST_SERVER_KEY", "sk-very-secret")
    caplog.set_level(logging.DEBUG)
    with OpenAIServer() as server:
        server.script.append((500, {}, {"error": "retry me"}))
        http = sampler(server, api_key_env="TEST_SERVER_KEY")
        http.generate(requests_for(PROBLEMS[:1], SamplingParams()))
    assert {h["Authorization"] for h in server.headers} == {"Bearer sk-very-secret"}
    assert "retry 1/5" in caplog.text
    assert "sk-very-secret" not in caplog.text and "sk-very-secret" not in repr(http)
    assert "sk-very-secret" not in repr(http.config)


def test_key_in_config_or_missing_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="api_key_env"):
        OpenAIHttpConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-x")  # type: ignore[call-arg]
    monkeypatch.delenv("ABSENT_KEY_VAR", raising=False)
    with pytest.raises(SamplerError, match="ABSENT_KEY_VAR"):
        OpenAIHttpSampler(OpenAIHttpConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="ABSENT_KEY_VAR"))
