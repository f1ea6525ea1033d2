"""A sharded run is one run whatever runs it: resumed with another shard count, after a one-process start, or by
one process after shards, nothing is sampled twice; a merged shard with work left (a prompt added to the
selection, a prompt whose accepted sample the merge found a near duplicate of) is opened again; a store that is
not the shard it is said to be is refused by name. A real sampler is not deterministic, as replay is: the trace
file is rewritten between invocations, so a round sampled twice would show as two samples."""

import json
from pathlib import Path

import pytest
from helpers import rows, trace
from run_configs import write_config
from test_shards_merge import sample_shards

from cotfactory.flows.config import RunConfig, load_config
from cotfactory.flows.generate import generate
from cotfactory.flows.run_control import controlling
from cotfactory.flows.shard_pool import prepare_shards
from cotfactory.flows.shards import merge_shards, sample_shard, shard_of, shard_ref
from cotfactory.storage import PromptRecord
from cotfactory.storage.errors import StoreError
from cotfactory.storage.shard_records import ShardRef


def _problems(shards: int, per_shard: int) -> list[str]:
    """Problems spread evenly over the shards of `shards`."""
    by_shard: dict[int, list[str]] = {shard: [] for shard in range(shards)}
    index = 0
    while any(len(found) < per_shard for found in by_shard.values()):
        problem = f"How many pears are left in crate {index}?"
        found = by_shard[shard_of(PromptRecord.create(problem, source="t").prompt_id, shards)]
        if len(found) < per_shard:
            found.append(problem)
        index += 1
    return [problem for shard in range(shards) for problem in by_shard[shard]]


def _run(folder: Path, problems: list[str], tag: str, **overrides: object) -> RunConfig:
    """A replay run of these problems, each with traces tagged `tag` (two per problem, one per round)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_traces(folder, problems, tag)
    (folder / "prompts.jsonl").write_text("".join(json.dumps({"problem": p, "answer": "5"}) + "\n" for p in problems))
    config = {
        "name": "resumed", "db": "run.duckdb", "samples_per_round": 1,
        "prompts": {"files": ["prompts.jsonl"], "source": "pears", "language": "en"},
        "sampler": {"kind": "replay", "paths": ["traces.jsonl"]},
        "checks": ["think_format", "non_empty"], "checking": {"workers": 1},
        "cluster": {"shards": 2, "work_pool": "local", "shard_dir": "shards"}, **overrides,
    }  # fmt: skip
    return load_config(write_config(folder, config))


def _write_traces(folder: Path, problems: list[str], tag: str) -> None:
    lines = [
        json.dumps({"problem": p, "completion": f"<think>{tag} {trace(i * 2 + r, 600)}</think>\nSo \\boxed{{5}}."})
        for i, p in enumerate(problems)
        for r in range(2)
    ]
    (folder / "traces.jsonl").write_text("".join(line + "\n" for line in lines))


def _with_shards(config: RunConfig, shards: int) -> RunConfig:
    return config.model_copy(update={"cluster": config.cluster.model_copy(update={"shards": shards})})


def _per_prompt(config: RunConfig) -> list[tuple[int, int, str]]:
    """(samples, rounds, the tag of its traces) per prompt of the run."""
    return sorted(
        rows(config.db,
             "SELECT count(*), count(DISTINCT o.round), min(split_part(c.completion, ' ', 1)) FROM outcomes o "
             "JOIN completions c USING (sample_id) WHERE o.run_id = ? GROUP BY o.prompt_id", [config.run_id()])
    )  # fmt: skip


def test_a_run_resumed_with_another_shard_count_samples_nothing_twice(tmp_path: Path) -> None:
    problems = _problems(2, 2)
    config = _run(tmp_path, problems, "first")
    _, pending, _ = prepare_shards(config, 2)
    with controlling(on_progress=lambda progress: None):
        for ref in pending:
            sample_shard(config, ref.shard, ref.shards)  # both sample; only shard 0 gets merged
    merge_shards(config, [shard_ref(config, 0, 2)])
    _write_traces(tmp_path, problems, "second")
    again = _with_shards(config, 3)
    assert again.run_id() == config.run_id()
    sample_shards(again, expect_samples=None)
    merge_shards(again, [shard_ref(again, shard, 3) for shard in range(3)])
    assert _per_prompt(config) == [(1, 1, "<think>first")] * 4, "shard 1 of 2's samples were merged, not redone"
    assert rows(config.db, "SELECT count(*), count(DISTINCT prompt_id) FROM run_rounds") == [(4, 4)]
    assert rows(config.db, "SELECT count(*) FROM run_shards WHERE merged_at IS NULL") == [(0,)]


def test_one_process_shards_and_one_process_again_are_one_run(prefect_api: str, tmp_path: Path) -> None:
    problems = _problems(2, 2)
    config = _run(tmp_path, problems[:2], "first")
    with controlling(on_progress=lambda progress: None):
        assert generate(config).status == "completed"
    grown = _run(tmp_path, problems, "second")  # two more prompts join the selection
    assert grown.run_id() == config.run_id()
    sample_shards(grown, expect_samples=None)
    merge_shards(grown, [shard_ref(grown, shard, 2) for shard in range(2)])
    assert [tag for *_, tag in _per_prompt(grown)].count("<think>first") == 2, "the first two were not redone"
    latest = [*problems, *(p for p in _problems(2, 3) if p not in problems)]  # two more, one a shard
    more = _run(tmp_path, latest, "third")
    sample_shards(more, expect_samples=None)  # the shards sample them and are never merged
    _write_traces(tmp_path, latest, "fourth")
    with controlling(on_progress=lambda progress: None):
        assert generate(more).status == "completed"
    assert (
        sorted(tag for *_, tag in _per_prompt(more))
        == ["<think>first"] * 2 + ["<think>second"] * 2 + ["<think>third"] * 2
    ), "one process merged what the shards left, and sampled nothing again"
    assert all(samples == 1 for samples, *_ in _per_prompt(more))


def test_a_merged_shard_whose_prompt_lost_its_sample_at_the_merge_is_opened_again(tmp_path: Path) -> None:
    problems = _problems(2, 1)
    shared = trace(3, 600)
    lines = [
        {"problem": problems[0], "completion": f"<think>{shared}</think>\nSo \\boxed{{5}}."},
        {"problem": problems[1], "completion": f"<think>{shared.replace(' so ', ' thus ', 1)}</think>\n\\boxed{{5}}."},
        {"problem": problems[1], "completion": f"<think>{trace(9, 600)}</think>\nSo \\boxed{{5}}."},
    ]  # fmt: skip
    config = _run(tmp_path, problems, "x", max_rounds=2)
    (tmp_path / "traces.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    sample_shards(config, expect_samples=None)
    merge_shards(config, [shard_ref(config, 0, 2), shard_ref(config, 1, 2)])
    assert rows(config.db, "SELECT reject_reason FROM outcomes WHERE NOT accepted") == [("near_duplicate",)]
    _, pending, _ = prepare_shards(config, 2)
    assert [ref.shard for ref in pending] == [1], "the shard of the prompt left short, with a round left"
    assert rows(config.db, "SELECT state FROM run_shards WHERE shard = 1") == [("PENDING",)]
    with controlling(on_progress=lambda progress: None):
        sample_shard(config, 1, 2)
    merge_shards(config, [shard_ref(config, 1, 2)])
    assert rows(config.db, "SELECT count(*), count(*) FILTER (WHERE accepted) FROM outcomes") == [(3, 2)]
    assert rows(config.db, "SELECT round, accepted FROM run_rounds ORDER BY round, accepted") == [
        (0, 0), (0, 1), (1, 1)
    ]  # fmt: skip
    assert prepare_shards(config, 2)[1] == [], "nothing left: every prompt has its target"


@pytest.mark.parametrize("wrong", ["another run", "another shard", "another count"])
def test_a_store_that_is_not_the_shard_named_is_refused_by_name(tmp_path: Path, wrong: str) -> None:
    config = _run(tmp_path / "run", _problems(2, 2), "x")
    other = _run(tmp_path / "other", _problems(2, 2), "x", name="other")
    for each in (config, other):
        sample_shards(each, expect_samples=None)
    source = {
        "another run": shard_ref(other, 0, 2).store,
        "another shard": shard_ref(config, 1, 2).store,
        "another count": shard_ref(config, 0, 2).store,
    }[wrong]
    claimed = ShardRef(config.run_id(), 3 if wrong == "another count" else 2, 0, source)
    before = rows(config.db, "SELECT count(*) FROM outcomes")
    with pytest.raises(StoreError, match=f"shard store {source} is shard"):
        merge_shards(config, [claimed])
    assert rows(config.db, "SELECT count(*) FROM outcomes") == before
    assert merge_shards(config, [shard_ref(config, 0, 2)])[0].new_samples == 2, "the right store still merges"


def test_a_shard_left_unmerged_is_merged_first_unless_it_still_runs_or_its_store_is_gone(tmp_path: Path) -> None:
    from cotfactory.flows.shard_plan import merge_left_shards
    from cotfactory.storage.errors import CotfactoryError

    config = _run(tmp_path, _problems(2, 1), "x")
    sample_shards(config, expect_samples=None)
    with pytest.raises(CotfactoryError, match=r"shard 0 of 2 of run .* is still running"):
        merge_left_shards(config, live=lambda flow_run_id: True)
    assert rows(config.db, "SELECT count(*) FROM outcomes") == [(0,)], "nothing merged under a running shard"
    moved = shard_ref(config, 1, 2).store
    moved.rename(moved.with_suffix(".away"))
    with pytest.raises(CotfactoryError, match=rf"store of shard 1 of 2 of run .* is missing \({moved}\)"):
        merge_left_shards(config)
    moved.with_suffix(".away").rename(moved)
    assert [ref.shard for ref in merge_left_shards(config)] == [0, 1]
    assert rows(config.db, "SELECT count(*), sum(samples) FROM run_shards WHERE merged_at IS NOT NULL") == [(2, 2)]
