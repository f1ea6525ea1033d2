"""Runs own their outcomes: a re-filter of stored completions gets its own samples, verdicts and export; a
generation run that samples an earlier run's completion again rejects it as a duplicate; a resumed replay run
serves the traces its missing rounds would have; a failed sampling batch leaves the batch before it stored."""

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from helpers import cli, rows, run_cli
from openai_server import OpenAIServer
from r1_answers import CASES, r1_style
from run_configs import http_run_config, write_config

from cotfactory.flows.config import load_config
from cotfactory.flows.generate import RunProgress, generate
from cotfactory.flows.run_control import controlling
from cotfactory.samplers.base import SamplerError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_command(config: Path, prefect_api: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli(), "run", str(config)],
        env={**os.environ, "PREFECT_API_URL": prefect_api, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_refiltering_a_dump_gives_the_new_run_its_own_samples_verdicts_and_export(
    prefect_api: str, tmp_path: Path
) -> None:
    for name in ("run-code.toml", "code-problems.jsonl", "code-traces.jsonl"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    first_config = tmp_path / "run-code.toml"
    text = first_config.read_text()
    second_text = text.replace('name = "code-example"', 'name = "code-refilter"')
    # The looping program's problem names its own limit (2 seconds): the factor halves it.
    second_text = second_text.replace("time_limit_s = 2.0", "time_limit_s = 1.0, time_limit_factor = 0.5")
    assert second_text.count("code-refilter") == 1 and "time_limit_factor = 0.5" in second_text
    second_config = tmp_path / "refilter.toml"
    second_config.write_text(second_text)
    first_id, second_id = load_config(first_config).run_id(), load_config(second_config).run_id()
    db = tmp_path / "code-demo.duckdb"

    first = run_command(first_config, prefect_api)
    assert first.returncode == 0, first.stderr
    second = run_command(second_config, prefect_api)
    assert second.returncode == 0, second.stderr

    assert rows(db, "SELECT count(*) FROM completions") == [(8,)], "each completion is stored once"
    assert rows(db, "SELECT run_id, count(*) FROM outcomes GROUP BY 1 ORDER BY 2, 1") == sorted(
        [(first_id, 8), (second_id, 8)], key=lambda row: (row[1], row[0])
    )
    # Its own verdicts, with its own time limits: the looping program was killed at half the first run's limit.
    timeouts = dict(
        rows(
            db,
            "SELECT run_id, detail FROM verdicts WHERE check_name = 'code_tests' AND reason = 'sandbox_timeout'",
        )
    )
    assert "(2s wall" in timeouts[first_id] and "(1.5s wall" in timeouts[second_id], timeouts
    assert rows(db, "SELECT count(DISTINCT run_id) FROM verdicts") == [(2,)]
    funnel = dict(
        rows(db, "SELECT reason, samples FROM funnel WHERE run_id = ? ORDER BY reason", [second_id])  # type: ignore[arg-type]
    )
    assert sum(funnel.values()) == 8 and funnel["accepted"] == 4, funnel
    assert "duplicate" not in funnel, "a sample is never a duplicate of itself"

    # What the command printed is the store's funnel of the run, and the summary line adds it up.
    summary = re.search(
        r"run (\w+) completed: (\d+) samples in the store, (\d+) accepted \((\d+) stored", second.stderr
    )
    assert summary is not None, second.stderr
    assert summary.groups() == (second_id, "8", "4", "8")
    for reason, samples in funnel.items():
        assert re.search(rf"│ {reason}\s+│\s+{samples} │", second.stdout), (reason, second.stdout)

    out = tmp_path / "export"
    exported = run_cli("export", "--run", second_id, "--db", str(db), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == 4 and manifest["selection"]["run"] == second_id


def test_a_generation_run_rejects_its_samples_that_an_earlier_run_kept(prefect_api: str, tmp_path: Path) -> None:
    with OpenAIServer(r1_style) as server:
        raw = http_run_config(tmp_path, server.url, max_rounds=1, dedup={"enabled": True})
        first = generate(load_config(write_config(tmp_path, raw)))
        # Another name, the same seeds: the server answers with the same completions.
        second = generate(load_config(write_config(tmp_path, {**raw, "name": "again"}, "again.toml")))
    db = tmp_path / "store.duckdb"
    assert {(row.reason, row.samples) for row in first.funnel} >= {("accepted", 1), ("near_duplicate", 1)}
    second_funnel = {(row.check_name, row.reason): row.samples for row in second.funnel}
    assert ("accepted", "accepted") not in second_funnel
    assert second_funnel[("dedup", "duplicate")] == 1, "sampled again: a duplicate of the kept completion"
    ((kept,),) = rows(db, "SELECT sample_id FROM outcomes WHERE run_id = ? AND accepted", [first.run_id])
    assert rows(
        db, "SELECT sample_id, detail FROM verdicts WHERE run_id = ? AND reason = 'duplicate'", [second.run_id]
    ) == [(kept, kept)]
    assert rows(db, "SELECT count(*) FROM outcomes WHERE run_id = ?", [second.run_id]) == [(10,)]
    assert rows(db, "SELECT count(*) FROM completions") == [(10,)]


def replay_dump(tmp_path: Path) -> Path:
    """Three recorded traces per problem, each wrong (so every round samples again)."""
    lines = []
    for problem in CASES:
        for attempt in range(3):
            completion = (
                f"<think>\nAttempt {attempt} at it, done.\n</think>\n\nSo the answer is $\\boxed{{-{attempt}}}$."
            )
            lines.append(json.dumps({"problem": problem, "completion": completion}))
    path = tmp_path / "dump.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_resumed_replay_run_serves_the_traces_of_its_missing_rounds(prefect_api: str, tmp_path: Path) -> None:
    dump = replay_dump(tmp_path)
    raw = http_run_config(
        tmp_path, "http://127.0.0.1:9/v1", samples_per_round=1, max_rounds=3, batch_size=5, dedup={"enabled": False}
    )
    raw["sampler"] = {"kind": "replay", "paths": [str(dump)]}
    config = load_config(write_config(tmp_path, raw))
    stop = threading.Event()

    def stop_after_the_first_group(progress: RunProgress) -> None:
        if progress.stored_now >= 5:
            stop.set()

    with controlling(on_progress=stop_after_the_first_group, stop=stop):
        assert generate(config).status == "cancelled"
    ((stored_first,),) = rows(config.db, "SELECT count(*) FROM outcomes")
    assert 5 <= stored_first < 15, "rounds are missing after the stop"
    assert generate(config).status == "completed"
    served = rows(
        config.db,
        "SELECT o.round, regexp_extract(c.completion, 'Attempt (\\d)', 1) FROM outcomes o JOIN completions c "
        "USING (sample_id) ORDER BY o.prompt_id, o.round",
    )
    assert len(served) == 15
    assert all(attempt == str(round_index) for round_index, attempt in served), served


def test_when_sampling_fails_the_batch_being_stored_is_stored_first(prefect_api: str, tmp_path: Path) -> None:
    with OpenAIServer(r1_style) as server:
        server.fail_after = 4  # one request per sample, one unit at a time: two prompts' rounds are answered
        raw = http_run_config(
            tmp_path, server.url, batch_size=2, max_rounds=1, sample_retries=0, sampler={"max_concurrency": 1}
        )
        config = load_config(write_config(tmp_path, raw))
        with pytest.raises(SamplerError):
            generate(config)
    assert rows(config.db, "SELECT status FROM runs") == [("failed",)]
    # The first batch (2 prompts x 2 samples) was sampled before the server failed, and is stored.
    assert rows(config.db, "SELECT count(*), count(DISTINCT prompt_id) FROM outcomes") == [(4, 2)]
    assert rows(config.db, "SELECT sum(samples) FROM run_rounds") == [(4,)]
