"""The demo, as a newcomer runs it: the tiny reasoner trained on the spot, the example config through the CLI and
the real vLLM engine. Rejection sampling has to show itself: accepted samples, several rejection reasons, and a
second round that samples only the prompts still without an accepted sample."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import cli, rows

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example config and problems beside a freshly trained tiny reasoner (about 2 minutes on 2 cores)."""
    from tiny_reasoner import train_tiny_reasoner

    folder = tmp_path_factory.mktemp("demo")
    for name in ("run.toml", "arithmetic.jsonl"):
        shutil.copy(EXAMPLES / name, folder / name)
    train_tiny_reasoner(folder / "tiny-reasoner", log=False)
    return folder


@pytest.mark.slow
def test_the_demo_shows_rejection_sampling_at_work(prefect_api: str, demo_folder: Path) -> None:
    db = demo_folder / "demo.duckdb"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1"}
    done = subprocess.run(
        [*cli(), "run", str(demo_folder / "run.toml"), "--db", str(db)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # quiet: the terminal shows the run, not the engine's warnings
    assert "WARNING" not in done.stderr and "Triton" not in done.stderr, done.stderr[-2000:]
    funnel = dict(rows(db, "SELECT reason, samples FROM funnel"))
    rejections = {reason for reason in funnel if reason != "accepted"}
    assert funnel.get("accepted", 0) >= 1, funnel
    assert len(rejections) >= 3 and "wrong_answer" in rejections, funnel
    # round 1 sampled exactly the prompts that round 0 left without an accepted sample
    round_0 = rows(db, "SELECT prompt_id, accepted FROM run_rounds WHERE round = 0")
    round_1 = {prompt_id for (prompt_id,) in rows(db, "SELECT prompt_id FROM run_rounds WHERE round = 1")}
    unsolved = {prompt_id for prompt_id, accepted in round_0 if accepted == 0}
    assert len(round_0) == 12 and round_1 == unsolved and 0 < len(unsolved) < 12
    # the accepted samples are real reasoning: closed <think>, worked steps, the right boxed sum
    (problem, completion), *_ = rows(
        db, "SELECT p.problem, s.completion FROM accepted s JOIN prompts p USING (prompt_id) ORDER BY s.sample_id"
    )
    terms = [int(term) for term in problem.removeprefix("What is ").removesuffix("?").split(" + ")]
    assert "</think>" in completion and f"\\boxed{{{sum(terms)}}}" in completion and "Ones:" in completion
