"""Applying a chain of checks to a batch: cheap ones on every sample in process, expensive ones on the survivors
in a process pool with a hard per-sample timeout, so one pathological answer never stalls or breaks a batch."""

import dataclasses
import logging
import multiprocessing
import os
import signal
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

# Importing the check modules registers their checks.
from cotfactory.filters import code_tests, correctness, format_checks, language, repetition  # noqa: F401
from cotfactory.filters.checks import REGISTRY, Check, Sample, Verdict, failed
from cotfactory.filters.judge import LlmJudge
from cotfactory.filters.majority import vote
from cotfactory.storage.errors import CotfactoryError

log = logging.getLogger(__name__)

DEFAULT_CHECKS: tuple[str, ...] = (
    "think_format",
    "truncated",
    "non_empty",
    "too_long",
    "long_paragraph",
    "code_in_reasoning",
    "repetition",
    "language",
    "multiple_final_answers",
    "choice",
    "math_verify",
    "code_tests",
)


class CheckConfigError(CotfactoryError, ValueError):
    """A check list names an unknown check or setting, or a bad value; the message names it."""


@dataclass(frozen=True)
class NamedCheck:
    name: str
    check: Check
    expensive: bool


def build_checks(entries: Sequence[str | dict[str, Any]] = DEFAULT_CHECKS) -> list[NamedCheck]:
    """Checks from a config list: names, or tables `{name = "repetition", max_ratio = 0.3}`."""
    built = []
    for entry in entries:
        settings = dict(entry) if isinstance(entry, dict) else {"name": entry}
        name = settings.pop("name", None)
        if name not in REGISTRY:
            raise CheckConfigError(f"unknown check {name!r}; known checks: {', '.join(sorted(REGISTRY))}")
        spec = REGISTRY[name]
        known = {f.name for f in dataclasses.fields(spec.factory)}
        if unknown := sorted(set(settings) - known):
            raise CheckConfigError(
                f"check {name!r} has no setting {unknown[0]!r}; its settings: {', '.join(sorted(known)) or 'none'}"
            )
        try:
            check = TypeAdapter(spec.factory).validate_python(settings)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise CheckConfigError(f"check {name!r}, setting {where!r}: {problem['msg']}") from error
        built.append(NamedCheck(name, check, spec.cost == "expensive"))
    return built


def domains_of(items: Iterable[Any]) -> set[str]:
    """The domains of prompts or samples, for `CheckRunner.setup`; one with tests counts as code too."""
    items = list(items)
    return {item.domain for item in items} | ({"code"} if any(item.tests for item in items) else set())


@dataclass
class Decision:
    """Accepted, or the first failing check's reason; with every verdict that was computed."""

    accepted: bool
    reason: str | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)


def _apply(checks: Sequence[NamedCheck], sample: Sample, *, stop_at_failure: bool) -> dict[str, Verdict]:
    verdicts = {}
    for named in checks:
        try:
            verdict = named.check(sample)
        except Exception as error:  # a bug or odd input in one check becomes that sample's verdict, logged
            log.exception("check %s failed on sample %s", named.name, sample.sample_id or "(no id)")
            verdict = failed("check_error", detail=f"{type(error).__name__}: {error}"[:500])
        verdicts[named.name] = verdict
        if stop_at_failure and not verdict.passed:
            break
    return verdicts


_WORKER_CHECKS: list[NamedCheck] = []


def _init_worker(checks: list[NamedCheck]) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to stop, not the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_CHECKS[:] = checks


def _ready() -> None:
    if any(c.name == "math_verify" for c in _WORKER_CHECKS):
        correctness.warm_up()


def _work(samples: list[Sample], stop_at_failure: bool) -> list[dict[str, Verdict]]:
    return [_apply(_WORKER_CHECKS, sample, stop_at_failure=stop_at_failure) for sample in samples]


class CheckRunner:
    """Runs checks over batches in a pool of worker processes: each worker applies the cheap checks, then the
    expensive ones if the cheap ones passed. `all_checks` computes every check on every sample (for audits);
    `workers=0` runs everything in this process, without a hard timeout."""

    def __init__(
        self,
        checks: Sequence[NamedCheck],
        *,
        workers: int | None = None,
        timeout_s: float = 30.0,
        all_checks: bool = False,
        majority_vote: bool = False,
        judge: LlmJudge | None = None,
    ) -> None:
        # cheap first: an expensive check only runs when every cheap one passed
        self.chain = [c for c in checks if not c.expensive] + [c for c in checks if c.expensive]
        self.order = [c.name for c in checks]
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.timeout_s = timeout_s
        self.all_checks = all_checks
        self.majority_vote = majority_vote
        self.judge = judge
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "CheckRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self, domains: Collection[str]) -> None:
        """Let each check prepare for prompts of these domains before any sample (the code sandbox is built
        and probed here); raises CheckSetupError naming what is missing."""
        for named in self.chain:
            if hasattr(named.check, "setup"):
                named.check.setup(domains)

    def start(self) -> None:
        """Start the worker pool now rather than on the first batch (each worker imports the checks' libraries,
        seconds); a run does this while its engine loads."""
        if self.workers > 0:
            self._get_pool()

    def close(self) -> None:
        if self._pool is not None:
            # The workers are idle between batches (a hung one was killed already): wait for them to exit,
            # so none outlives the runner.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: forking a process that runs an inference engine's threads is unsafe
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.chain,),
            )
            # Wait until the workers run: a new interpreter's start must not count against a sample's timeout.
            for started in [self._pool.submit(_ready) for _ in range(self.workers)]:
                started.result(timeout=300)
        return self._pool

    def _kill_pool(self) -> None:
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _timeout_for(self, sample: Sample) -> float:
        """The hard timeout, plus the time a check says it may legitimately take on this sample (running a
        program's tests takes up to tests x time limit)."""
        return self.timeout_s + sum(c.check.budget_s(sample) for c in self.chain if hasattr(c.check, "budget_s"))

    def _timed_out(self) -> dict[str, Verdict]:
        hung = next((c.name for c in self.chain if c.expensive), self.chain[0].name)
        return {hung: failed("verify_timeout", detail=f"no verdict within {self.timeout_s:g}s")}

    def _run_pool(self, samples: Sequence[Sample]) -> list[dict[str, Verdict]]:
        """Samples go out in small chunks (less inter-process traffic than one by one). A chunk that passes
        the timeout is sent again one sample at a time, so only the sample that hangs gets `verify_timeout`."""
        results: list[dict[str, Verdict] | None] = [None] * len(samples)
        chunk = max(1, min(16, len(samples) // (self.workers * 4)))
        queue = [list(range(start, min(start + chunk, len(samples)))) for start in range(0, len(samples), chunk)]
        while queue:
            pool = self._get_pool()
            futures = [
                (indices, pool.submit(_work, [samples[i] for i in indices], not self.all_checks)) for indices in queue
            ]
            queue = []
            for position, (indices, future) in enumerate(futures):
                try:
                    budget = sum(self._timeout_for(samples[index]) for index in indices)
                    for index, verdicts in zip(indices, future.result(timeout=budget), strict=True):
                        results[index] = verdicts
                except FutureTimeout:
                    if len(indices) == 1:
                        results[indices[0]] = self._timed_out()
                    else:
                        queue.extend([index] for index in indices)
                    for later_indices, later in futures[position + 1 :]:
                        if later.done() and later.exception() is None:
                            for index, verdicts in zip(later_indices, later.result(), strict=True):
                                results[index] = verdicts
                        else:
                            queue.append(later_indices)
                    self._kill_pool()  # its worker may spin forever
                    break
        return [result or {} for result in results]

    def run(self, samples: Sequence[Sample]) -> list[Decision]:
        """A decision per sample, in order."""
        if not samples:
            return []
        votes: list[str | None] = [None] * len(samples)
        if self.majority_vote:
            samples, votes = map(list, zip(*vote(samples), strict=True))
        if self.workers == 0:
            computed = [_apply(self.chain, sample, stop_at_failure=not self.all_checks) for sample in samples]
        else:
            computed = self._run_pool(samples)
        for verdicts, outcome in zip(computed, votes, strict=True):
            if outcome is not None:
                verdicts["majority_vote"] = Verdict(True, None, None, outcome)
        if self.judge is not None:
            self._apply_judge(samples, computed)
        return [self._decide(verdicts) for verdicts in computed]

    def _apply_judge(self, samples: Sequence[Sample], computed: list[dict[str, Verdict]]) -> None:
        """The judge sees the samples math-verify rejected as wrong; its verdict overrides that one."""
        rejected = [
            i for i, v in enumerate(computed) if "math_verify" in v and v["math_verify"].reason == "wrong_answer"
        ]
        for index, verdict in zip(rejected, self.judge.judge([samples[i] for i in rejected]), strict=True):
            computed[index]["llm_judge"] = verdict

    def _decide(self, verdicts: dict[str, Verdict]) -> Decision:
        judged = verdicts.get("llm_judge")
        overruled = {"math_verify"} if judged is not None and judged.passed else set()
        failures = [
            verdicts[name]
            for name in [*self.order, "llm_judge"]
            if name in verdicts and name not in overruled and not verdicts[name].passed
        ]
        return Decision(not failures, failures[0].reason if failures else None, verdicts)
