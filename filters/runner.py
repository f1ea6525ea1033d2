"""Applying a chain of checks to a batch: each sample goes through the cheap checks, then the expensive ones if
the cheap ones passed, in worker processes watched from outside (`check_pool`): a per-sample time limit and
replacement of dead workers, so one pathological answer never stalls or breaks a batch."""

import dataclasses
import logging
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

# Importing the check modules registers their checks.
from cotfactory.filters import choice, code_tests, correctness, format_checks, language, repetition  # noqa: F401
from cotfactory.filters.check_pool import CheckPool
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
    check: str | None = None  # the first failing check


def _apply(
    checks: Sequence[NamedCheck],
    sample: Sample,
    *,
    stop_at_failure: bool,
    running: Callable[[int], None] | None = None,
) -> dict[str, Verdict]:
    verdicts = {}
    for index, named in enumerate(checks):
        if running is not None:
            running(index)
        try:
            verdict = named.check(sample)
        except Exception as error:  # a bug or odd input in one check becomes that sample's verdict, logged
            log.exception("check %s failed on sample %s", named.name, sample.sample_id or "(no id)")
            verdict = failed("check_error", detail=f"{type(error).__name__}: {error}"[:500])
        verdicts[named.name] = verdict
        if stop_at_failure and not verdict.passed:
            break
    return verdicts


def _apply_in_worker(
    checks: Sequence[NamedCheck], sample: Sample, stop_at_failure: bool, running: Callable[[int], None]
) -> dict[str, Verdict]:
    return _apply(checks, sample, stop_at_failure=stop_at_failure, running=running)


def _warm_up_worker(checks: Sequence[NamedCheck]) -> None:
    # math-verify's first parse imports sympy's parsers (seconds): before any sample's clock starts
    if any(c.name == "math_verify" for c in checks):
        correctness.warm_up()


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
        self._pool: CheckPool | None = None

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
        """Start the worker processes now rather than on the first batch (each imports the checks' libraries,
        seconds); a run does this while its engine loads."""
        if self.workers > 0:
            self._get_pool().start()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @property
    def workers_replaced(self) -> int:
        """Workers that died (or were killed at a time limit) and were replaced, since the runner started."""
        return self._pool.replaced if self._pool is not None else 0

    def _get_pool(self) -> CheckPool:
        if self._pool is None:
            self._pool = CheckPool(self.workers, self.chain, _apply_in_worker, _warm_up_worker)
        return self._pool

    def _timeout_for(self, sample: Sample) -> float:
        """The hard timeout, plus the time a check says it may legitimately take on this sample (running a
        program's tests takes up to tests x time limit)."""
        return self.timeout_s + sum(c.check.budget_s(sample) for c in self.chain if hasattr(c.check, "budget_s"))

    def run(self, samples: Sequence[Sample]) -> list[Decision]:
        """A decision per sample, in order."""
        return [self.decide(verdicts) for verdicts in self.verdicts(samples)]

    def verdicts(self, samples: Sequence[Sample]) -> list[dict[str, Verdict]]:
        """Every per-sample check's verdict on each sample, in order; a run's batch stages (decontamination,
        dedup) add theirs before `decide`."""
        if not samples:
            return []
        votes: list[str | None] = [None] * len(samples)
        if self.majority_vote:
            samples, votes = map(list, zip(*vote(samples), strict=True))
        if self.workers == 0:
            computed = [_apply(self.chain, sample, stop_at_failure=not self.all_checks) for sample in samples]
        else:
            computed = self._get_pool().run(
                samples, stop_at_failure=not self.all_checks, timeout_for=self._timeout_for
            )
        for verdicts, outcome in zip(computed, votes, strict=True):
            if outcome is not None:
                verdicts["majority_vote"] = Verdict(True, None, None, outcome)
        if self.judge is not None:
            self._apply_judge(samples, computed)
        return computed

    def _apply_judge(self, samples: Sequence[Sample], computed: list[dict[str, Verdict]]) -> None:
        """The judge sees the samples math-verify rejected as wrong; its verdict overrides that one."""
        rejected = [
            i for i, v in enumerate(computed) if "math_verify" in v and v["math_verify"].reason == "wrong_answer"
        ]
        for index, verdict in zip(rejected, self.judge.judge([samples[i] for i in rejected]), strict=True):
            computed[index]["llm_judge"] = verdict

    def failures(self, verdicts: dict[str, Verdict]) -> list[str]:
        """The failing checks, in the chain's order (verdicts of later stages, such as dedup, come last in the
        order they were added); a judge's pass overrules math-verify."""
        judged = verdicts.get("llm_judge")
        overruled = {"math_verify"} if judged is not None and judged.passed else set()
        known = [*self.order, "llm_judge"]
        order = [*known, *(name for name in verdicts if name not in known)]
        return [name for name in order if name in verdicts and name not in overruled and not verdicts[name].passed]

    def decide(self, verdicts: dict[str, Verdict]) -> Decision:
        """Accepted when no check failed; else rejected by the first failing one. The one place a sample's
        outcome is decided."""
        failures = self.failures(verdicts)
        if not failures:
            return Decision(True, None, verdicts)
        return Decision(False, verdicts[failures[0]].reason, verdicts, failures[0])
