"""Shards merged into a run's store exactly once, with dedup across shards at the merge: real shard stores,
written by the shard's own sampling loop over replayed traces, merged into a real DuckDB file."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TESTS, rows, run_cli, trace
from run_configs import write_config

from cotfactory.flows.config import RunConfig, load_config
from cotfactory.flows.run_control import controlling
from cotfactory.flows.shard_pool import prepare_shards
from cotfactory.flows.shards import merge_shards, sample_shard, shard_of, shard_ref
from cotfactory.storage.shard_records import ShardRef


def _problems_in_both_shards() -> tuple[str, str]:
    """Two problems whose prompts fall into different shards of two."""
    from cotfactory.storage import PromptRecord

    by_shard: dict[int, str] = {}
    for index in range(100):
        problem = f"How many apples are left in basket {index}?"
        by_shard.setdefault(shard_of(PromptRecord.create(problem, source="t").prompt_id, 2), problem)
        if len(by_shard) == 2:
            return by_shard[0], by_shard[1]
    raise AssertionError("no split found")


def near_duplicate_run(folder: Path, **overrides: object) -> Path:
    """A replay run of two prompts, one per shard, whose two traces differ by one word in 300."""
    first, second = _problems_in_both_shards()
    reasoning = trace(7, 2000)
    other = reasoning.replace(" so ", " thus ", 1)
    assert other != reasoning
    (folder / "prompts.jsonl").write_text(
        "".join(json.dumps({"problem": p, "answer": "5"}) + "\n" for p in (first, second))
    )
    traces = [
        {"problem": first, "completion": f"<think>{reasoning}</think>\nSo \\boxed{{5}}."},
        {"problem": second, "completion": f"<think>{other}</think>\nSo \\boxed{{5}}."},
    ]
    (folder / "traces.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces))
    config = {
        "name": "sharded",
        "db": "run.duckdb",
        "samples_per_round": 1,
        "prompts": {"files": ["prompts.jsonl"], "source": "apples", "language": "en"},
        "sampler": {"kind": "replay", "paths": ["traces.jsonl"]},
        "checks": ["think_format", "non_empty"],
        "checking": {"workers": 1},
        "cluster": {"shards": 2, "work_pool": "local", "shard_dir": "shards"},
        **overrides,
    }
    return write_config(folder, config)


def sample_shards(config: RunConfig, expect_samples: int | None = 1) -> int:
    """What the pool's workers do: each shard with work left samples into its own store (each holding
    `expect_samples` samples after, when given); returns how many they accepted."""
    _, pending, _ = prepare_shards(config, config.cluster.shards)
    with controlling(on_progress=lambda progress: None):
        kept = 0
        for ref in pending:
            result = sample_shard(config, ref.shard, ref.shards)
            assert result.status == "completed"
            assert expect_samples is None or result.samples == expect_samples, "alone in its shard"
            kept += result.accepted
    return kept


STATE_SQL = {
    "outcomes": "SELECT sample_id, prompt_id, round, accepted, reject_check, reject_reason FROM outcomes",
    "verdicts": "SELECT sample_id, check_name, passed, score, reason, detail FROM verdicts",
    "rounds": "SELECT prompt_id, round, samples, accepted, completion_tokens FROM run_rounds",
    "completions": "SELECT sample_id, completion FROM completions",
    "index": "SELECT params, sample_id, text_hash FROM near_dup_signatures",
    "bands": "SELECT count(*) FROM near_dup_bands",
    "shards": "SELECT shards, shard, samples, accepted, merged_at IS NOT NULL FROM run_shards",
}


def store_state(db: Path) -> dict[str, list[tuple]]:
    """Everything a merge writes, without the times it wrote it."""
    return {name: sorted(rows(db, sql), key=repr) for name, sql in STATE_SQL.items()}


def test_merges_two_shards_each_holding_one_of_a_near_duplicate_pair(tmp_path: Path) -> None:
    config = load_config(near_duplicate_run(tmp_path))
    assert sample_shards(config) == 2, "each shard accepts its own"
    refs = [shard_ref(config, shard, 2) for shard in range(2)]
    merged = merge_shards(config, refs)
    assert [m.merged_now for m in merged] == [True, True]
    outcomes = rows(config.db, "SELECT sample_id, accepted, reject_check, reject_reason FROM outcomes")
    accepted = [o for o in outcomes if o[1]]
    rejected = [o for o in outcomes if not o[1]]
    assert len(accepted) == 1 and len(rejected) == 1, outcomes
    assert rejected[0][2:] == ("dedup", "near_duplicate")
    ((detail, passed),) = rows(
        config.db, "SELECT detail, passed FROM verdicts WHERE sample_id = ? AND check_name = 'dedup'", [rejected[0][0]]
    )
    assert (detail, passed) == (accepted[0][0], False), "the verdict names the sample merged from the other shard"
    assert rows(config.db, "SELECT sum(accepted) FROM run_rounds") == [(1,)], "the rounds count what the run kept"
    assert rows(config.db, "SELECT count(*) FROM near_dup_signatures") == [(1,)], "only the kept one is indexed"


def test_merging_every_shard_a_second_time_changes_nothing(tmp_path: Path) -> None:
    config = load_config(near_duplicate_run(tmp_path))
    assert sample_shards(config) == 2, "each shard accepts its own"
    refs = [shard_ref(config, shard, 2) for shard in range(2)]
    merge_shards(config, refs)
    once = store_state(config.db)
    again = merge_shards(config, refs)
    assert [m.merged_now for m in again] == [False, False]
    assert store_state(config.db) == once
    assert len(once["outcomes"]) == 2
    assert sorted(accepted for *_, accepted, _ in once["shards"]) == [0, 1], "one shard's sample kept"
    shown = run_cli("status", config.run_id(), "--db", str(config.db), env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "shards" in shown.stdout and "MERGED" in shown.stdout and "near_duplicate" in shown.stdout


def test_a_merge_killed_mid_shard_leaves_nothing_of_it_and_merging_again_gives_the_same_store(
    tmp_path: Path,
) -> None:
    config = load_config(near_duplicate_run(tmp_path))
    assert sample_shards(config) == 2, "each shard accepts its own"
    before = tmp_path / "before.duckdb"
    shutil.copy(config.db, before)
    merge_shards(config, [shard_ref(config, shard, 2) for shard in range(2)])
    clean = store_state(config.db)

    shutil.copy(before, config.db)
    merger = subprocess.Popen(
        [sys.executable, str(TESTS / "merge_process.py"), str(tmp_path / "run.toml")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    try:
        assert merger.stdout is not None
        assert merger.stdout.readline().strip() == "merged 0", merger.stderr.read() if merger.stderr else ""
        assert merger.stdout.readline().strip() == "holding 1", "shard 1's rows written, not committed"
    finally:
        merger.send_signal(signal.SIGKILL)
        merger.wait(timeout=60)
    half = store_state(config.db)
    assert [row[1] for row in half["shards"] if row[4]] == [0], "shard 0 merged, shard 1 not at all"
    assert len(half["outcomes"]) == 1
    merged = merge_shards(config, [shard_ref(config, shard, 2) for shard in range(2)])
    assert [m.merged_now for m in merged] == [False, True]
    assert store_state(config.db) == clean


def test_every_shard_decontaminates_against_the_run_store_s_benchmarks(tmp_path: Path) -> None:
    from cotfactory.filters.decontam import register_benchmark
    from cotfactory.storage import Store

    first, _ = _problems_in_both_shards()
    (tmp_path / "bench.jsonl").write_text(json.dumps({"problem": first}) + "\n")
    path = near_duplicate_run(tmp_path, decontam=["bench"])
    register_benchmark(Store(tmp_path / "run.duckdb"), "bench", [tmp_path / "bench.jsonl"])
    config = load_config(path)
    assert sample_shards(config) == 1, "the contaminated prompt's shard accepts nothing"
    merge_shards(config, [shard_ref(config, shard, 2) for shard in range(2)])
    outcomes = rows(
        config.db, "SELECT p.problem, o.accepted, o.reject_reason FROM outcomes o JOIN prompts p USING (prompt_id)"
    )
    assert sorted(outcomes) == sorted([(first, False, "contaminated"), (_problems_in_both_shards()[1], True, None)])


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 64])
def test_a_prompt_lands_in_the_same_shard_whatever_else_is_sharded(shards: int) -> None:
    ids = [f"{i:016x}" for i in range(0, 5000, 7)]
    alone = [shard_of(prompt_id, shards) for prompt_id in ids]
    assert alone == [shard_of(prompt_id, shards) for prompt_id in reversed(ids)][::-1]
    assert set(alone) == set(range(shards)), "every shard gets prompts"
    counts = [alone.count(s) for s in range(shards)]
    assert max(counts) < 1.5 * len(ids) / shards + 10, counts


def test_the_run_s_progress_counts_every_shard_merged_or_not(tmp_path: Path) -> None:
    from cotfactory.flows.shard_progress import ShardedProgress

    config = load_config(near_duplicate_run(tmp_path))
    prepare_shards(config, 2)
    refs = [shard_ref(config, shard, 2) for shard in range(2)]
    progress = ShardedProgress(config, refs, prompts_total=2)  # made when the stores are seeded, as the run does
    assert sample_shards(config) == 2, "each shard accepts its own"
    before = progress.update()
    assert (before.prompts_finished, before.samples, before.accepted) == (2, 2, 2), "each shard kept its own"
    assert set(progress.changed()) == {0, 1} and progress.changed() == {}
    merge_shards(config, refs[:1])
    progress.merged(0)
    middle = progress.update()
    assert (middle.prompts_finished, middle.samples, middle.accepted) == (2, 2, 2)
    merge_shards(config, refs[1:])
    progress.merged(1)
    after = progress.update()
    assert (after.samples, after.accepted) == (2, 1), "the near duplicate counted once merged"


def _long_trace_shard(ref: ShardRef, samples: int, chars: int) -> None:
    """A shard store of `samples` accepted samples of `chars` characters each, one prompt and round each."""
    from cotfactory.storage import Store
    from cotfactory.storage.shard_records import mark_shard_store

    with Store(ref.store).transaction() as con:
        mark_shard_store(con, ref)
        con.execute(
            "CREATE TEMP TABLE made AS SELECT i, 'p' || lpad(i::VARCHAR, 6, '0') AS prompt_id, "
            "'s' || lpad(i::VARCHAR, 6, '0') AS sample_id, (SELECT string_agg(md5(i::VARCHAR || '-' || j::VARCHAR), "
            f"' ') FROM range({chars // 33}) t(j)) AS text FROM range({samples}) r(i)"
        )
        con.execute(
            "INSERT INTO prompts SELECT prompt_id, 't', 'Problem ' || i, '1', 'math', NULL, NULL, now(), NULL "
            "FROM made"
        )
        con.execute(
            "INSERT INTO completions SELECT sample_id, prompt_id, '<think>' || text || '</think>\\boxed{1}', text, "
            "'\\boxed{1}', 'stop', 10, 1000, now() FROM made"
        )
        con.execute("INSERT INTO outcomes SELECT ?, sample_id, prompt_id, 0, 0, 1, true, NULL, NULL, now() FROM made",
                    [ref.run_id])  # fmt: skip
        con.execute("INSERT INTO verdicts SELECT ?, sample_id, 'think_format', true, NULL, NULL, NULL FROM made",
                    [ref.run_id])  # fmt: skip
        con.execute("INSERT INTO run_rounds SELECT ?, prompt_id, 0, 1, 1, 1000, now() FROM made", [ref.run_id])


def test_a_shard_of_long_traces_merges_under_the_merge_memory_limit(tmp_path: Path) -> None:
    """2,000 traces of 50 KB with their reasoning (R1's run 8-130 KB) under the default limit: DuckDB reads 2,048
    rows at a time, so the former 256MB could not even scan them."""
    from cotfactory.storage import Store
    from cotfactory.storage.shard_merge import MERGE_MEMORY_LIMIT, merge_shard

    assert MERGE_MEMORY_LIMIT == "1GB"
    ref = ShardRef("long-traces", 1, 0, tmp_path / "shard.duckdb")
    _long_trace_shard(ref, 2_000, 50_000)
    run = Store(tmp_path / "run.duckdb")
    merged = merge_shard(run, ref)
    assert (merged.merged_now, merged.new_samples) == (True, 2_000)
    assert rows(run.path, "SELECT count(*), sum(length(completion)) > 2000 * 49000 FROM completions") == [(2000, True)]
    assert rows(run.path, "SELECT count(*), sum(accepted) FROM run_rounds") == [(2000, 2000)]
