"""Streams as servers other than the test server send them. Framing the SSE format allows is read; a stream that
is not a chat completion (malformed events, an error body with status 200, a server's own abort, a stream that
ends without a finish reason or only keeps the connection alive) fails its attempt with a message naming what
was wrong, and is sampled again; the tokens a broken attempt generated count as spent."""

import json
import logging
import threading
import time

import pytest
from scripted_server import Answer, ScriptedServer, chunk, event, stream

from cotfactory.samplers.base import Completion, SampleRequest, SamplerError, SamplingParams
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.storage.ids import prompt_id_for

PROBLEM = "What is 6 times 7?"
ANSWER = "The answer is \\boxed{42}."
GOOD = stream(event(chunk("The answer is ")), event(chunk("\\boxed{42}.", "stop")))


def sample(url: str, n: int = 1, settle=None, **settings) -> list[Completion]:  # type: ignore[no-untyped-def]
    request = SampleRequest(prompt_id_for(PROBLEM), PROBLEM, SamplingParams(n=n, seed=0), settle=settle)
    config = OpenAIHttpConfig(base_url=url, model="m", **({"timeout_s": 1.0, "backoff_base_s": 0.0} | settings))
    return OpenAIHttpSampler(config).generate([request])[0]


def _pretty(payload: dict) -> bytes:
    """One event written over several data lines, as the SSE format allows."""
    return b"".join(b"data: " + line.encode() + b"\n" for line in json.dumps(payload, indent=1).splitlines()) + b"\n"


# (id, the answer, text, reasoning, completion tokens): framing the format allows, read as one completion
FRAMINGS = [
    ("data without a space", stream(event(chunk(ANSWER, "stop"), prefix=b"data:")), ANSWER, None, 1),
    ("CRLF lines", stream(event(chunk("The answer is "), end=b"\r\n\r\n"), event(chunk("\\boxed{42}.", "stop"),
                                                                                   end=b"\r\n\r\n")), ANSWER, None, 2),
    ("an event over several data lines", stream(_pretty(chunk("The answer is ")),
                                                _pretty(chunk("\\boxed{42}.", "stop"))), ANSWER, None, 2),
    ("comments, names and ids", stream(b": ping\n\n", b"event: message\nid: 7\nretry: 5\n" + event(chunk(ANSWER)),
                                       event(chunk(None, "stop"))), ANSWER, None, 1),
    ("usage only at the end", stream(event(chunk(ANSWER, "stop")), event({"choices": [], "usage": {
        "prompt_tokens": 3, "completion_tokens": 9}})), ANSWER, None, 9),
    ("reasoning as delta.reasoning", stream(event(chunk(reasoning="think hard")), event(chunk(ANSWER, "stop"))),
     ANSWER, "think hard", 2),
    ("a surrogate pair split between events", stream(event(chunk("smile \ud83d")), event(chunk("\ude00 ok", "stop"))),
     "smile \U0001f600 ok", None, 2),
]  # fmt: skip


@pytest.mark.parametrize(("case", "answer", "text", "reasoning", "tokens"), FRAMINGS, ids=[f[0] for f in FRAMINGS])
def test_framing_the_format_allows_is_read(case: str, answer: Answer, text: str, reasoning: str | None, tokens: int):
    with ScriptedServer(lambda body, number: answer) as server:
        (completion,) = sample(server.url, max_retries=0)
    assert (completion.text, completion.reasoning, completion.finish_reason) == (text, reasoning, "stop")
    assert completion.completion_tokens == tokens


def _usage(tokens: object) -> bytes:
    return event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": tokens}})


# (id, the broken answer, what the error says)
BROKEN = [
    ("[DONE] without a finish reason", stream(event(chunk("The answer"))), "without a finish reason"),
    ("the server's own abort", stream(event(chunk("The answer", "abort"))), "ended the sequence itself"),
    ("a finish reason of error", stream(event(chunk("The answer", "error"))), "ended the sequence itself"),
    ("an error event", stream(event({"error": {"message": "CUDA out of memory"}})), "CUDA out of memory"),
    ("200 with an error body", (200, "application/json", [b'{"error": {"message": "overloaded"}}']), "overloaded"),
    ("200 with a body that is not JSON", (200, "application/json", [b"<html>502 Bad Gateway</html>"]), "not JSON"),
    ("an event that is a list", stream(b"data: [1, 2]\n\n"), "the event is list"),
    ("an event that is text", stream(b'data: "x"\n\n'), "the event is str"),
    ("an event that is not JSON", stream(b"data: {not json\n\n"), "not JSON"),
    ("choices of text", stream(event({"choices": ["x"]})), "a choice is str"),
    ("a delta of text", stream(event({"choices": [{"delta": "x"}]})), "delta is str"),
    ("content that is a number", stream(event(chunk(5))), "content is int"),  # type: ignore[arg-type]
    ("usage that is a list", stream(event({"choices": [], "usage": []})), "usage is list"),
    ("a token count that is text", stream(_usage("abc")), "not a token count"),
    ("a fractional token count", stream(_usage(12.7)), "not a token count"),
    ("a negative token count", stream(_usage(-3)), "not a token count"),
    ("keep-alives and no token", (200, "text/event-stream", [b": ping\n\n", 0.2] * 12), "no token for"),
]


@pytest.mark.parametrize(("case", "broken", "said"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_stream_is_sampled_again(case: str, broken: Answer, said: str, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="cotfactory")
    with ScriptedServer(lambda body, number: broken if number == 1 else GOOD) as server:
        (completion,) = sample(server.url, max_retries=1)
        assert len(server.requests) == 2
    assert (completion.text, completion.finish_reason) == (ANSWER, "stop")
    assert said in caplog.text, "the retry says what was wrong"


@pytest.mark.parametrize(("case", "broken", "said"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_stream_that_stays_broken_fails_naming_why(case: str, broken: Answer, said: str) -> None:
    with ScriptedServer(lambda body, number: broken) as server, pytest.raises(SamplerError) as failure:
        sample(server.url, max_retries=0)
    assert said in str(failure.value) and server.url in str(failure.value)


@pytest.mark.parametrize("stream_mode", [False, True], ids=["whole", "streamed"])
def test_a_whole_answer_that_is_an_error_is_no_sample(stream_mode: bool) -> None:
    whole = json.dumps({"choices": [{"index": 0, "message": {"content": ANSWER}, "finish_reason": "stop"}]})
    answers = [(200, "application/json", [b'{"error": {"message": "upstream timeout"}}']),
               (200, "application/json", [whole.encode()])]  # fmt: skip
    with ScriptedServer(lambda body, number: answers[min(number, 2) - 1]) as server:
        (completion,) = sample(server.url, max_retries=1, stream=stream_mode)
    assert (completion.text, completion.finish_reason, completion.completion_tokens) == (ANSWER, "stop", None)


def test_the_tokens_of_a_broken_attempt_count_as_spent() -> None:
    broken = stream(*(event(chunk("x ", usage={"completion_tokens": i})) for i in (1, 2, 3)))
    good = stream(event(chunk("The answer is ", usage={"completion_tokens": 1})),
                  event(chunk("\\boxed{42}.", "stop", usage={"completion_tokens": 2})))  # fmt: skip
    with ScriptedServer(lambda body, number: broken if number == 1 else good) as server:
        (completion,) = sample(server.url, max_retries=1)
    assert (completion.text, completion.completion_tokens, completion.retried_tokens) == (ANSWER, 2, 3)


def test_siblings_that_end_together_at_the_target_are_kept_as_they_ended() -> None:
    """n = 4, target reached by the second passing sample: samples 1 and 2 end while the first is being judged,
    and sample 3 runs on. Every ended sample is kept as it ended; only the one still running is stopped."""

    def script(body: dict, number: int) -> Answer:
        index = body["seed"] % 4
        if index == 3:
            return 200, "text/event-stream", [part for _ in range(200) for part in (event(chunk("slow ")), 0.02)]
        return stream(0.1 * index, event(chunk(f"done {index}", "stop")))

    judged: list[str] = []

    def settle(completion: Completion) -> bool:
        judged.append(completion.text)
        time.sleep(0.4)  # the checks take a while: the next siblings end meanwhile
        return len(judged) >= 2

    with ScriptedServer(script) as server:
        completions = sample(server.url, n=4, settle=settle, timeout_s=10.0)
    assert [c.finish_reason for c in completions] == ["stop", "stop", "stop", "aborted:target_met"]
    assert [c.text for c in completions[:3]] == ["done 0", "done 1", "done 2"]
    assert completions[3].text.startswith("slow ") and len(judged) == 2


def test_requests_never_wait_for_a_busy_client_while_another_has_connections() -> None:
    """40 requests in flight on one endpoint, over two clients of 32 connections, long and short streams mixed:
    a request that waited for a connection of a full client while the other had free ones timed out as if the
    server were slow."""
    long = [part for _ in range(12) for part in (event(chunk("working ")), 0.1)]

    def script(body: dict, number: int) -> Answer:
        return stream(*(long if body["seed"] % 2 else []), event(chunk(ANSWER, "stop")))

    with ScriptedServer(script) as server:
        sampler = OpenAIHttpSampler(
            OpenAIHttpConfig(base_url=server.url, model="m", max_concurrency=40, timeout_s=0.6, max_retries=0)
        )
        requests = [SampleRequest(f"p{i}", PROBLEM, SamplingParams(n=2, seed=i * 2)) for i in range(60)]
        rounds = sampler.generate(requests)
    assert sum(len(r) for r in rounds) == 120 and len(server.requests) == 120
    assert sampler.endpoint_counts()[sampler.config.urls[0]]["failures"] == 0


def test_requests_waiting_on_an_endpoint_that_was_set_aside_go_to_another() -> None:
    hung = threading.Event()

    def hanging(body: dict, number: int) -> Answer:
        hung.wait(timeout=5)
        return GOOD

    with ScriptedServer(hanging) as stuck, ScriptedServer(lambda body, number: GOOD) as healthy:
        config = OpenAIHttpConfig(base_urls=[stuck.url, healthy.url], model="m", max_concurrency=2, timeout_s=0.5,
                                  max_retries=3, backoff_base_s=0.0, endpoint_failures=2)  # fmt: skip
        requests = [SampleRequest(f"p{i}", PROBLEM, SamplingParams(n=1, seed=i)) for i in range(24)]
        rounds = OpenAIHttpSampler(config).generate(requests)
        hung.set()
    assert all(r[0].text == ANSWER for r in rounds)
    # the two requests in flight there when it hung, and at most one more each before it was set aside
    assert len(stuck.requests) <= 4
