"""An aborted sample's stored prefix does not depend on how the network delivered its stream: the judge is handed
fixed pieces of it, so the same stream read in one gulp, event by event or in ragged byte runs keeps the same
prefix (and sample id), and a rerun stores it once."""

import random

import pytest
from scripted_server import Answer, ScriptedServer, chunk, event
from test_stream_abort import LINE, PROBLEM, paragraphs, r1

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.prefix import PromptContext
from cotfactory.filters.runner import build_checks
from cotfactory.samplers.base import Completion, SampleRequest, SamplingParams
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler
from cotfactory.samplers.stream_pieces import PIECE_CHARS, PieceFeed
from cotfactory.storage.ids import prompt_id_for


class Recording:
    """A judge that notes what it is fed and fails once it has read `doom`."""

    def __init__(self, doom: str | None = None) -> None:
        self.doom = doom
        self.feeds: list[tuple[str, str]] = []
        self.text = ""
        self.tokens = 0

    def feed(self, text: str = "", reasoning: str = "", tokens: int | None = None) -> tuple[str, object] | None:
        self.feeds.append((text, reasoning))
        self.text += reasoning + text
        return ("doom", None) if self.doom is not None and self.doom in self.text else None


def split_randomly(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 40))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@pytest.mark.parametrize("seed", range(20))
def test_the_judge_reads_the_same_pieces_however_the_stream_is_split(seed: int) -> None:
    rng = random.Random(seed)
    reasoning = "".join(rng.choice("ab \n") for _ in range(rng.randint(0, 500)))
    text = "".join(rng.choice("xyz\n") for _ in range(rng.randint(1, 500)))
    seen = []
    for _ in range(2):
        judge = Recording()
        feed = PieceFeed(judge)
        for part in split_randomly(reasoning, rng) if reasoning else []:
            feed.add("", part, None)
        for part in split_randomly(text, rng):
            feed.add(part, "", None)
        seen.append(judge.feeds)
        whole = (len(reasoning) + len(text)) // PIECE_CHARS * PIECE_CHARS
        assert sum(len(t) + len(r) for t, r in judge.feeds) == whole, "every whole piece, and nothing more"
        assert (feed.fed_reasoning, feed.fed_text) == (min(whole, len(reasoning)), max(0, whole - len(reasoning)))
    assert seen[0] == seen[1]


def test_the_failure_stops_at_the_end_of_the_piece_that_holds_it() -> None:
    stream = "a" * 200 + "DOOM" + "b" * 5000
    judge = Recording("DOOM")
    feed = PieceFeed(judge)
    assert feed.add(stream, "", None) == ("doom", None)
    assert feed.fed_text == (204 // PIECE_CHARS + 1) * PIECE_CHARS, "the piece holding the doom, then no more"


def test_one_huge_event_is_handed_on_in_linear_time() -> None:
    judge = Recording()
    judge.feed = lambda text="", reasoning="", tokens=None: None  # type: ignore[method-assign]
    feed = PieceFeed(judge)
    feed.add("x" * 4_000_000, "", None)  # quadratic slicing would take minutes here
    assert feed.fed_text == 4_000_000


def _events(full: str, size: int = 8) -> list[bytes]:
    return [event(chunk(full[i : i + size])) for i in range(0, len(full), size)] + [
        event(chunk(None, "stop")),
        b"data: [DONE]\n\n",
    ]


def _deliveries(full: str) -> dict[str, Answer]:
    """The same events, written one at a time, all at once, and in ragged byte runs cutting events apart."""
    events = _events(full)
    gulp = b"".join(events)
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(gulp)), k=400))
    ragged = [gulp[a:b] for a, b in zip([0, *cuts], [*cuts, len(gulp)], strict=True)]
    return {
        "event by event": (200, "text/event-stream", events),
        "in one gulp": (200, "text/event-stream", [gulp]),
        "ragged": (200, "text/event-stream", ragged),
    }


def _sample(url: str, chain: Chain) -> Completion:
    context = PromptContext(PROBLEM, "math")
    request = SampleRequest(
        prompt_id_for(PROBLEM),
        PROBLEM,
        SamplingParams(n=1, seed=0),
        watch=lambda opened: chain.stream_judge(context, opened_by_template=opened),
    )
    config = OpenAIHttpConfig(base_url=url, model="m", timeout_s=30.0)
    ((completion,),) = OpenAIHttpSampler(config).generate([request])
    return completion


@pytest.mark.parametrize(
    ("doom", "check"),
    [
        ([LINE] * 4, "repetition"),
        (["然后我们检查一下这个结果。"], "language"),
        (["<think> Start over."], "think_format"),
    ],
    ids=["repetition", "language", "think_format"],
)
def test_an_aborted_sample_keeps_the_same_prefix_however_the_network_delivers_it(doom: list[str], check: str) -> None:
    full = r1([*paragraphs(3), *doom, *paragraphs(40)])
    prefixes = {}
    with Chain(build_checks(), workers=0) as chain:
        for name, answer in _deliveries(full).items():
            with ScriptedServer(lambda body, number, answer=answer: answer) as server:
                completion = _sample(server.url, chain)
            assert completion.finish_reason == f"aborted:{check}", name
            prefixes[name] = completion.text
        stored = Sample.from_completion(PROBLEM, prefixes["ragged"], finish_reason=f"aborted:{check}")
        (decision,) = chain.run([stored])
    assert len(set(prefixes.values())) == 1, {name: len(text) for name, text in prefixes.items()}
    prefix = prefixes["ragged"]
    assert full.startswith(prefix) and len(prefix) < len(full) / 2 and len(prefix) % PIECE_CHARS == 0
    assert (decision.accepted, decision.check) == (False, check), "the stored prefix is decided as its stream was"


def test_a_stream_that_passes_is_stored_whole_whatever_its_delivery() -> None:
    full = r1(paragraphs(20))
    with Chain(build_checks(), workers=0) as chain:
        for name, answer in _deliveries(full).items():
            with ScriptedServer(lambda body, number, answer=answer: answer) as server:
                completion = _sample(server.url, chain)
            assert (completion.text, completion.finish_reason) == (full, "stop"), name
