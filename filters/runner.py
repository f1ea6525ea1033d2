"""Applying a chain of checks to a batch: cheap ones on every sample in process, expensive ones on the survivors
in a process pool with a hard per-sample timeout, so one pathological answer never stalls or breaks a batch."""

import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

# Importing the check modules registers their checks.
from cotfactory.filters import correctness, format_checks, language, repetition  # noqa: F401
from cotfactory.filters.checks import REGISTRY, Check, Sample, Verdict, failed
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
    _WORKER_CHECKS[:] = checks


def _work(sample: Sample, stop_at_failure: bool) -> dict[str, Verdict]:
    return _apply(_WORKER_CHECKS, sample, stop_at_failure=stop_at_failure)


class CheckRunner:
    """Runs checks over batches; `all_checks` computes every check on every sample (for audits)."""

    def __init__(
        self,
        checks: Sequence[NamedCheck],
        *,
        workers: int | None = None,
        timeout_s: float = 30.0,
        all_checks: bool = False,
    ) -> None:
        self.cheap = [c for c in checks if not c.expensive]
        self.expensive = [c for c in checks if c.expensive]
        self.order = [c.name for c in checks]
        self.workers = workers or os.cpu_count() or 1
        self.timeout_s = timeout_s
        self.all_checks = all_checks
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "CheckRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: forking a process that runs an inference engine's threads is unsafe
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.expensive,),
            )
        return self._pool

    def _kill_pool(self) -> None:
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _run_expensive(self, samples: Sequence[Sample]) -> list[dict[str, Verdict]]:
        results: list[dict[str, Verdict] | None] = [None] * len(samples)
        pending = list(range(len(samples)))
        while pending:
            pool = self._get_pool()
            futures: list[tuple[int, Future]] = [
                (index, pool.submit(_work, samples[index], not self.all_checks)) for index in pending
            ]
            pending = []
            for position, (index, future) in enumerate(futures):
                try:
                    results[index] = future.result(timeout=self.timeout_s)
                except FutureTimeout:
                    # A hung check (math-verify's own alarm did not fire): this sample times out, the pool
                    # is replaced and the samples not finished yet are submitted again.
                    results[index] = {
                        self.expensive[0].name: failed("verify_timeout", detail=f"over {self.timeout_s:g}s")
                    }
                    pending = [i for i, f in futures[position + 1 :] if not f.done() or f.exception() is not None]
                    for i, f in futures[position + 1 :]:
                        if f.done() and f.exception() is None:
                            results[i] = f.result()
                    self._kill_pool()
                    break
        return [result or {} for result in results]

    def run(self, samples: Sequence[Sample]) -> list[Decision]:
        """A decision per sample, in order."""
        verdicts = [_apply(self.cheap, sample, stop_at_failure=not self.all_checks) for sample in samples]
        survivors = [i for i, v in enumerate(verdicts) if self.all_checks or all(x.passed for x in v.values())]
        if self.expensive and survivors:
            for index, extra in zip(survivors, self._run_expensive([samples[i] for i in survivors]), strict=True):
                verdicts[index].update(extra)
        decisions = []
        for computed in verdicts:
            first_failure = next(
                (computed[name] for name in self.order if name in computed and not computed[name].passed), None
            )
            decisions.append(
                Decision(first_failure is None, first_failure.reason if first_failure else None, computed)
            )
        return decisions
