"""Builders of realistic rows for tests: prompts, sampled traces with verdicts, runs."""

import os
import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

from cotfactory.storage import JudgedSample, PromptRecord, RoundRecord, RunRecord, Store, VerdictRecord
from cotfactory.storage.store import write_batch

TESTS = Path(__file__).resolve().parent
TRACE_TEXT = (
    "let x be the number of apples so that 3x + 5 = 20 therefore x equals five wait check again the sum "
    "of the roots is given by Vieta so we need b over a hence the answer follows because"
)
WORDS = TRACE_TEXT.split()


def cli() -> list[str]:
    """The installed `cotfactory` console script of this interpreter's environment."""
    return [str(Path(sys.executable).parent / "cotfactory")]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`cotfactory ARGS`, with `env` added to this process's environment."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([*cli(), *args], capture_output=True, text=True, cwd=cwd, env=environment, timeout=120)


def start_run_process(config: Path, prefect_api: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    # A session of its own, like a terminal's job: signals go to the run and its check workers together.
    return subprocess.Popen(
        [*cli(), "run", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def trace(seed: int, size: int) -> str:
    """A pseudo-reasoning text of about `size` characters, different for each seed."""
    rng = random.Random(seed)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def prompt(index: int) -> PromptRecord:
    return PromptRecord.create(f"Problem {index}: what is {index} + {index}?", source="test", reference=str(2 * index))


def batch(
    number: int, size: int, *, run_id: str = "run-1", text_bytes: int = 1000, accept_every: int = 2
) -> tuple[list[JudgedSample], list[VerdictRecord]]:
    """Batch `number`: `size` samples of distinct prompts, each with one verdict per check."""
    samples, verdicts = [], []
    for index in range(size):
        seed = number * 1_000_003 + index
        reasoning = trace(seed, text_bytes)
        accepted = index % accept_every == 0
        sample = JudgedSample.create(
            prompt_id=prompt(number * size + index).prompt_id,
            model="tiny",
            completion=f"{reasoning}</think>\n\nThe answer is \\boxed{{{index}}}.",
            run_id=run_id,
            round=0,
            sample_index=index,
            seed=seed,
            reasoning=reasoning,
            answer=f"The answer is \\boxed{{{index}}}.",
            finish_reason="stop",
            prompt_tokens=20,
            completion_tokens=text_bytes // 4,
            accepted=accepted,
            reject_check=None if accepted else "correctness",
            reject_reason=None if accepted else "wrong_answer",
        )
        samples.append(sample)
        verdicts.append(
            VerdictRecord(run_id=run_id, sample_id=sample.sample_id, check_name="format", passed=True, score=1.0)
        )
        verdicts.append(
            VerdictRecord(
                run_id=run_id,
                sample_id=sample.sample_id,
                check_name="correctness",
                passed=accepted,
                reason=None if accepted else "wrong_answer",
            )
        )
    return samples, verdicts


def store_batch(
    store: Store,
    samples: Sequence[JudgedSample],
    verdicts: Iterable[VerdictRecord] = (),
    rounds: Sequence[RoundRecord] = (),
) -> int:
    """Store samples as a run's commit step does (`write_batch` in a memory-capped transaction that leaves
    checkpoints to DuckDB); returns how many outcomes were new."""
    with store.transaction(checkpoint_on_close=False, memory_capped=True) as con:
        return write_batch(con, samples, verdicts, rounds)[0]


def seed_store(store: Store, batches: int, size: int, *, run_id: str = "run-1") -> None:
    """Prompts, a run and `batches` batches of samples."""
    store.add_prompts([prompt(i) for i in range(batches * size)])
    store.start_run(RunRecord(run_id=run_id, model="tiny", sampler={"kind": "test"}, sampling={"n": 1}))
    for number in range(batches):
        store_batch(store, *batch(number, size, run_id=run_id))


def kill_run(process: subprocess.Popen[str]) -> None:
    """SIGKILL a run started by `start_run_process` with everything in its session (check workers), and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """The rows of a read-only query on the store `db`."""
    from cotfactory.storage import query

    return query(sql, db, params=params).rows()


def run_script_with(module: Path, script: str, *args: str, prefect_api: str) -> list[str]:
    """Run `script` in a fresh interpreter that can import `module` (a file written by the test, such as a
    sampler or a step registered by its import), against the session's Prefect server; its output lines."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(module.parent)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True, text=True, env=env, timeout=300, cwd=module.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()
