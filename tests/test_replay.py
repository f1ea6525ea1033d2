"""Replay of recorded traces, keyed by normalized problem."""

import json
from pathlib import Path

import polars as pl
import pytest

from cotfactory.samplers.base import SampleRequest, SamplingParams, requests_for
from cotfactory.samplers.registry import SAMPLERS
from cotfactory.samplers.replay import ReplayConfig, ReplaySampler
from cotfactory.samplers.units import Unit, UnitQueue, stream_units
from cotfactory.storage import InputError, PromptRecord

TRACES = [
    {"problem": "What is 2+2?", "completion": "<think>2+2=4</think>\\boxed{4}", "finish_reason": "stop"},
    {"problem": "What is  2+2?", "completion": "<think>two and two</think>\\boxed{4}", "completion_tokens": 9},
    {"problem": "What is 2+2?", "completion": "<think>hmm</think>\\boxed{5}"},
    {"problem": "Name a prime.", "completion": "7", "reasoning": "2 is even, 7 is prime"},
]


def write(tmp_path: Path, rows: list[dict], name: str = "traces.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


PROBLEMS = ("What is 2+2?", "Name a prime.", "Unseen problem")


def test_serves_recorded_traces_in_rounds_and_reports_missing(tmp_path: Path) -> None:
    sampler = ReplaySampler(ReplayConfig(paths=[write(tmp_path, TRACES)]))
    first = sampler.generate(requests_for(PROBLEMS, SamplingParams(n=2), round=0))
    assert [len(c) for c in first] == [2, 1, 0]
    assert first[0][0].text.endswith("{4}") and first[0][1].completion_tokens == 9
    assert first[1][0].reasoning == "2 is even, 7 is prime"
    assert sampler.missing == {requests_for(PROBLEMS, SamplingParams())[2].prompt_id}
    second = sampler.generate(requests_for(PROBLEMS, SamplingParams(n=2), round=1))
    assert [c.text for c in second[0]] == ["<think>hmm</think>\\boxed{5}"]
    assert sampler.generate(requests_for(PROBLEMS, SamplingParams(n=2), round=2))[0] == []


@pytest.mark.parametrize("n", [1, 2, 3])
def test_round_r_serves_traces_r_times_n_onward_whatever_was_served_before(tmp_path: Path, n: int) -> None:
    """A resumed run asks for its missing round first: it gets that round's traces, not the next unserved ones,
    and asking for the same round again serves the same traces (each of a problem's rounds is fixed)."""
    rows = [{"problem": "P", "completion": f"trace {index}"} for index in range(7)]
    sampler = ReplaySampler(ReplayConfig(paths=[write(tmp_path, rows)]))
    params = SamplingParams(n=n)
    served = {}
    for round_index in (2, 0, 1, 2, 8):
        (completions,) = sampler.generate([SampleRequest("id-of-p", "P", params, round_index)])
        served[round_index] = [c.text for c in completions]
        assert served[round_index] == [f"trace {i}" for i in range(round_index * n, min(7, (round_index + 1) * n))]
    assert served[8] == [], "past the recorded traces, nothing is invented"
    # mixed rounds and problems in one call: each request is served on its own
    mixed = sampler.generate([SampleRequest("a", "P", params, 1), SampleRequest("b", "Q", params, 0)])
    assert [c.text for c in mixed[0]] == served[1] and mixed[1] == []


def test_parquet_dump_with_mapped_fields(tmp_path: Path) -> None:
    dump = pl.DataFrame({"question": ["Q1", "Q2"], "trace": ["a</think>1", "b</think>2"]})
    dump.write_parquet(tmp_path / "d.parquet")
    sampler = ReplaySampler(ReplayConfig(paths=[tmp_path / "d.parquet"]))
    out = sampler.generate(requests_for(["Q2"], SamplingParams(n=4)))
    assert [c.text for c in out[0]] == ["b</think>2"]


def test_bad_trace_rows_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, [TRACES[0], {"problem": "no completion here"}])
    with pytest.raises(InputError, match=rf"{path}:2: missing completion field"):
        ReplaySampler(ReplayConfig(paths=[path]))


def test_every_bad_line_is_named_and_the_line_cap_holds(tmp_path: Path) -> None:
    """Line by line: a huge line, a truncated one, invalid UTF-8, a non-object and a non-string problem are
    each reported as FILE:LINE, together, while the good lines around them would have parsed."""
    good = json.dumps(TRACES[0]).encode()
    huge = json.dumps({"problem": "big", "completion": "x" * 5000}).encode()
    lines = [good, huge, b'{"problem": "cut', b'{"problem": "\xff", "completion": "a"}',
             b"[1, 2]", json.dumps({"problem": 7, "completion": "a"}).encode(), good]  # fmt: skip
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as error:
        ReplaySampler(ReplayConfig(paths=[path], max_line_bytes=1000))
    message = str(error.value)
    assert "5 bad rows" in message
    for line, reason in [(2, "over the 1,000-byte cap"), (3, "not valid JSON"), (4, "invalid UTF-8"),
                         (5, "not a JSON object"), (6, "must be strings")]:  # fmt: skip
        assert f"{path}:{line}: " in message and reason in message, (line, reason, message)
    assert f"{path}:1:" not in message and f"{path}:7:" not in message
    # the same huge line is fine under a larger cap
    path.write_bytes(good + b"\n" + huge + b"\n")
    assert ReplaySampler(ReplayConfig(paths=[path], max_line_bytes=10_000)).trace_count == 2


@pytest.mark.realdata
def test_real_trace_dump(shared_data: Path) -> None:
    dump = shared_data / "traces" / "qwen25math_cot_maj8"
    files = sorted(dump.glob("*.jsonl"))
    assert files, f"no JSONL in {dump}"
    sampler = ReplaySampler(ReplayConfig(paths=files))
    assert sampler.trace_count == 800
    first = json.loads(files[0].read_text().splitlines()[0])
    out = sampler.generate(requests_for([first["problem"]], SamplingParams(n=16)))
    assert len(out[0]) == 8, "8 recorded samples per problem"


def test_fed_through_the_unit_queue_each_unit_gets_its_rounds_traces(tmp_path: Path) -> None:
    """A run feeds a replay batches of whatever units wait, of any rounds: each unit's request carries its round,
    so a batch mixing a resumed prompt's round 1 and another's round 0 serves each its own traces."""
    rows = [{"problem": problem, "completion": f"{problem} #{i}"} for problem in ("A", "B") for i in range(4)]
    sampler = ReplaySampler(ReplayConfig(paths=[write(tmp_path, rows)]))
    units = UnitQueue()
    params = SamplingParams(n=2)
    for problem, round_index in [("A", 1), ("B", 0), ("A", 0), ("B", 1)]:
        units.put(Unit(PromptRecord.create(problem, source="t"), round_index, params))
    served: dict[tuple[str, int], list[str]] = {}

    def done(unit: Unit, completions: list) -> None:
        served[(unit.prompt.problem, unit.round)] = [c.text for c in completions]
        units.finished()

    stream_units(sampler, units, done, streams=SAMPLERS["replay"].streams, batch_size=3)
    assert served == {
        ("A", 0): ["A #0", "A #1"], ("A", 1): ["A #2", "A #3"], ("B", 0): ["B #0", "B #1"], ("B", 1): ["B #2", "B #3"]
    }  # fmt: skip
