"""Replay of recorded traces, keyed by normalized problem."""

import json
from pathlib import Path

import polars as pl
import pytest

from cotfactory.samplers.base import SamplingParams
from cotfactory.samplers.replay import ReplayConfig, ReplaySampler
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


def test_serves_recorded_traces_in_rounds_and_reports_missing(tmp_path: Path) -> None:
    sampler = ReplaySampler(ReplayConfig(paths=[write(tmp_path, TRACES)]))
    prompts = [PromptRecord.create(p, source="t") for p in ("What is 2+2?", "Name a prime.", "Unseen problem")]
    first = sampler.generate(prompts, SamplingParams(n=2))
    assert [len(c) for c in first] == [2, 1, 0]
    assert first[0][0].text.endswith("{4}") and first[0][1].completion_tokens == 9
    assert first[1][0].reasoning == "2 is even, 7 is prime"
    assert sampler.missing == {prompts[2].prompt_id}
    second = sampler.generate(prompts, SamplingParams(n=2))
    assert [c.text for c in second[0]] == ["<think>hmm</think>\\boxed{5}"]
    assert sampler.generate(prompts, SamplingParams(n=2))[0] == []


def test_parquet_dump_with_mapped_fields(tmp_path: Path) -> None:
    dump = pl.DataFrame({"question": ["Q1", "Q2"], "trace": ["a</think>1", "b</think>2"]})
    dump.write_parquet(tmp_path / "d.parquet")
    sampler = ReplaySampler(ReplayConfig(paths=[tmp_path / "d.parquet"]))
    out = sampler.generate([PromptRecord.create("Q2", source="t")], SamplingParams(n=4))
    assert [c.text for c in out[0]] == ["b</think>2"]


def test_bad_trace_rows_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, [TRACES[0], {"problem": "no completion here"}])
    with pytest.raises(InputError, match=rf"{path}:2: missing completion field"):
        ReplaySampler(ReplayConfig(paths=[path]))


@pytest.mark.realdata
def test_real_trace_dump(shared_data: Path) -> None:
    dump = shared_data / "traces" / "qwen25math_cot_maj8"
    files = sorted(dump.glob("*.jsonl"))
    assert files, f"no JSONL in {dump}"
    sampler = ReplaySampler(ReplayConfig(paths=files))
    assert sampler.trace_count == 800
    first = json.loads(files[0].read_text().splitlines()[0])
    out = sampler.generate([PromptRecord.create(first["problem"], source="t")], SamplingParams(n=16))
    assert len(out[0]) == 8, "8 recorded samples per problem"
