"""A run's settings on Prefect's real engine: configs that fail before any work, schedules served as deployments,
the majority vote, the judge and decontamination named in a run config."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from helpers import cli, rows
from openai_server import OpenAIServer
from r1_answers import CASES, r1_style
from run_configs import http_run_config, write_config

from cotfactory.flows.config import load_config
from cotfactory.flows.generate import generate
from cotfactory.storage.ids import prompt_id_for


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sampels_per_round": 2}, "sampels_per_round: Extra inputs are not permitted"),
        ({"samples_per_round": -1}, "samples_per_round: Input should be greater than or equal to 1"),
        ({"sampling": {"n": 4}}, "set samples_per_round instead of sampling.n"),
        ({"sampler": {"kind": "vllm"}}, "sampler.model: Field required"),
        ({"sampler": {"kind": "vllm", "model": "./no-such-model"}}, "sampler.model: no model folder at"),
        (
            {"sampler": {"kind": "ollama", "model": "m"}},
            "sampler: Input tag 'ollama' found using 'kind' does not match",
        ),
        ({"prompts": {"files": ["missing.jsonl"]}}, "prompts.files[0]: cannot read"),
        ({"checks": ["think_format", "no_such_check"]}, "unknown check 'no_such_check'"),
        ({"checks": [{"name": "repetition", "max_ration": 0.2}]}, "check 'repetition' has no setting 'max_ration'"),
        ({"db": "no/such/folder/store.duckdb"}, "db: folder"),
    ],
)
def test_bad_config_fails_before_any_work(tmp_path: Path, change: dict, message: str) -> None:
    with OpenAIServer(r1_style) as server:
        raw = http_run_config(tmp_path, server.url)
        for key, value in change.items():
            raw[key] = value
        config = write_config(tmp_path, raw)
        result = subprocess.run([*cli(), "run", str(config)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert message in result.stderr and str(config) in result.stderr
        assert "Traceback" not in result.stderr
        assert server.requests == []
    assert not (tmp_path / "store.duckdb").exists()


def test_unreadable_config_file(tmp_path: Path) -> None:
    result = subprocess.run([*cli(), "run", str(tmp_path / "nope.toml")], capture_output=True, text=True)
    assert result.returncode == 1 and "cannot read run config" in result.stderr


def test_schedule_builds_a_cron_deployment_with_absolute_paths(tmp_path: Path) -> None:
    from cotfactory.flows.schedule import deployment

    config = load_config(write_config(tmp_path, http_run_config(tmp_path, "http://127.0.0.1:9/v1")))
    built = deployment(config, cron="0 2 * * *", name="nightly")
    assert built.name == "nightly"
    assert [s.schedule.cron for s in built.schedules] == ["0 2 * * *"]
    passed = built.parameters["config"]
    assert Path(passed["db"]).is_absolute() and passed["db"] == str(tmp_path / "store.duckdb")
    assert (
        load_config(write_config(tmp_path, http_run_config(tmp_path, "http://127.0.0.1:9/v1"))).run_id()
        == config.run_id()
    )

    bad = subprocess.run(
        [*cli(), "schedule", str(tmp_path / "run.toml"), "--cron", "every night"], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "--cron 'every night'" in bad.stderr


def test_majority_vote_and_judge_from_the_run_config(prefect_api: str, tmp_path: Path) -> None:
    """Prompts without a reference take their samples' majority answer; the judge overrules math-verify."""

    problem = "What is six times seven?"
    first_seed: list[int] = []  # the seed of the round's first sample, once the config is loaded

    def three_answers(body: dict, index: int) -> dict:
        index = body["seed"] - first_seed[0]  # one request per sample: its seed says which sample it is
        final = "42" if index < 2 else "41"
        return {
            "role": "assistant",
            "content": f"<think>\nAttempt {index}: 6 times 7 is {final}.\n</think>\n\n\\boxed{{{final}}}",
        }

    def equivalent(body: dict, index: int) -> dict:
        return {"role": "assistant", "content": "The answers agree.\nEQUIVALENT"}

    with OpenAIServer(three_answers) as server, OpenAIServer(equivalent) as judge:
        raw = http_run_config(tmp_path, server.url, samples_per_round=3, target_accepted=3, max_rounds=1)
        raw["checks"] = ["think_format", "math_verify"]
        raw["checking"] = {
            "workers": 1,
            "majority_vote": True,
            "judge": {"sampler": {"kind": "openai", "base_url": judge.url, "model": "judge"}},
        }
        config = load_config(write_config(tmp_path, raw))
        first_seed.append(config.params_for_round(0).seed_for(prompt_id_for(problem)))
        (tmp_path / "prompts.jsonl").write_text(json.dumps({"problem": problem}) + "\n")
        generate(config)
        assert len(judge.requests) == 1, "only the answer math-verify rejected goes to the judge"
        assert "41" in judge.requests[0]["messages"][-1]["content"]
    verdicts = rows(
        config.db,
        "SELECT s.sample_index, s.accepted, v.check_name, v.passed, v.reason, v.detail FROM samples s "
        "JOIN verdicts v USING (sample_id) WHERE v.check_name IN ('majority_vote', 'math_verify', 'llm_judge') "
        "ORDER BY s.sample_index, v.check_name",
    )
    by_sample: dict[int, dict[str, tuple]] = {}
    for index, accepted, check, passed, reason, detail in verdicts:
        assert accepted, "two by majority, the third by the judge"
        by_sample.setdefault(index, {})[check] = (passed, reason, detail)
    assert by_sample[0]["majority_vote"][2] == "2/3 for 42"
    assert by_sample[0]["math_verify"][:2] == (True, None)
    assert by_sample[2]["math_verify"][:2] == (False, "wrong_answer")
    assert by_sample[2]["llm_judge"][0] is True and "EQUIVALENT" in by_sample[2]["llm_judge"][2]


def test_schedule_serves_a_deployment_that_runs(prefect_api: str, tmp_path: Path) -> None:
    """`cotfactory schedule` against a Prefect server: the deployment appears with its cron schedule, and a run
    of it, picked up by the serving process, samples into the store."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with OpenAIServer(r1_style) as server:
        config = write_config(tmp_path, http_run_config(tmp_path, server.url, max_rounds=1))
        env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
        serving = subprocess.Popen(
            [*cli(), "schedule", str(config), "--cron", "0 2 * * *", "--name", "nightly-test"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            # The serving process prints how to trigger the deployment once it is registered.
            output = ""
            while "nightly-test" not in output:
                line = serving.stdout.readline()
                assert line, f"`cotfactory schedule` ended: {output}"
                output += line
            with get_client(sync_client=True) as client:
                deployment = client.read_deployment_by_name("cotfactory-generate/nightly-test")
            assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
            flow_run = run_deployment("cotfactory-generate/nightly-test", timeout=300)
            assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
        finally:
            os.killpg(serving.pid, signal.SIGTERM)
            serving.wait(timeout=60)
    assert rows(tmp_path / "store.duckdb", "SELECT count(*), count(DISTINCT prompt_id) FROM samples") == [(10, 5)]
    assert rows(tmp_path / "store.duckdb", "SELECT status, flow_run_id FROM runs") == [("completed", str(flow_run.id))]


def test_samples_of_a_benchmark_problem_are_rejected_as_contaminated(prefect_api: str, tmp_path: Path) -> None:
    from cotfactory.filters.decontam import DecontamError, register_benchmark
    from cotfactory.storage import Store

    solved = next(p for p, case in CASES.items() if case[1] is None)
    (tmp_path / "bench.jsonl").write_text(json.dumps({"problem": solved}) + "\n")
    with OpenAIServer(r1_style) as server:
        raw = http_run_config(tmp_path, server.url, max_rounds=1, decontam=["missing"])
        with pytest.raises(DecontamError, match="no benchmark 'missing'"):
            generate(load_config(write_config(tmp_path, raw)))
        assert server.requests == [], "an unknown benchmark fails before sampling"

        register_benchmark(Store(tmp_path / "store.duckdb"), "mini", [tmp_path / "bench.jsonl"])
        config = load_config(write_config(tmp_path, {**raw, "decontam": ["mini"]}))
        summary = generate(config)
    assert {(row.reason, row.samples) for row in summary.funnel if row.reason != "accepted"} >= {("contaminated", 2)}
    assert not any(row.reason == "accepted" for row in summary.funnel)
    details = rows(config.db, "SELECT DISTINCT detail FROM verdicts WHERE reason = 'contaminated'")
    assert details == [("mini: 'solve for x 3x 7 11'",)]
