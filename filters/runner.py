"""The per-sample part of the check chain: each sample goes through the cheap checks, then the expensive ones if
the cheap ones passed, in worker processes watched from outside (`check_pool`): a per-sample time limit and
replacement of dead workers, so one pathological answer never stalls or breaks a batch. The verdicts go on to
the chain (`chain.py`), which decides."""

import dataclasses
import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

# Importing the check modules registers their checks.
from cotfactory.filters import choice, code_tests, correctness, format_checks, language, repetition  # noqa: F401
from cotfactory.filters.check_pool import CheckPool
from cotfactory.filters.checks import REGISTRY, Check, CheckSpec, Sample, Verdict, failed
from cotfactory.storage.errors import CotfactoryError

log = logging.getLogger(__name__)

# How the engine ended a sample comes first: a sample cut at max_tokens or stopped as a loop is `truncated` or
# `repetition`, not the unclosed reasoning that follows from it.
DEFAULT_CHECKS: tuple[str, ...] = (
    "truncated",
    "repetition",
    "think_format",
    "non_empty",
    "too_long",
    "long_paragraph",
    "code_in_reasoning",
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


def _built(entry: str | dict[str, Any]) -> tuple[CheckSpec, Any]:
    """One entry of a config's `checks` list, validated: a name, or a table `{name = "repetition", ...}`."""
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
        return spec, TypeAdapter(spec.factory).validate_python(settings)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise CheckConfigError(f"check {name!r}, setting {where!r}: {problem['msg']}") from error


def build_entries(entries: Sequence[str | dict[str, Any]]) -> tuple[list[NamedCheck], list[Any]]:
    """A config's `checks` list, each entry validated once: its per-sample checks and its group steps, each in
    the list's order."""
    built = [_built(entry) for entry in entries]
    checks = [NamedCheck(spec.name, item, spec.cost == "expensive") for spec, item in built if spec.cost != "group"]
    return checks, [item for spec, item in built if spec.cost == "group"]


def build_checks(entries: Sequence[str | dict[str, Any]] = DEFAULT_CHECKS) -> list[NamedCheck]:
    """The per-sample checks of a config's `checks` list, in its order."""
    return build_entries(entries)[0]


def domains_of(items: Iterable[Any]) -> set[str]:
    """The domains of prompts or samples, for `CheckRunner.setup`; one with tests counts as code too."""
    items = list(items)
    return {item.domain for item in items} | ({"code"} if any(item.tests for item in items) else set())


def _apply(
    checks: Sequence[NamedCheck],
    sample: Sample,
    *,
    stop_at_failure: bool,
    running: Callable[[int], None] | None = None,
    given: Mapping[str, Verdict] | None = None,
) -> dict[str, Verdict]:
    """Each check's verdict; `given` holds verdicts already decided outside (a check that hung or crashed its
    worker), which stand in for running that check again."""
    verdicts = {}
    for index, named in enumerate(checks):
        if running is not None:
            running(index)
        verdict = given[named.name] if given and named.name in given else _verdict_of(named, sample)
        verdicts[named.name] = verdict
        if stop_at_failure and not verdict.passed:
            break
    return verdicts


def _verdict_of(named: NamedCheck, sample: Sample) -> Verdict:
    try:
        return named.check(sample)
    except Exception as error:  # a bug or odd input in one check becomes that sample's verdict, logged
        log.exception("check %s failed on sample %s", named.name, sample.sample_id or "(no id)")
        return failed("check_error", detail=f"{type(error).__name__}: {error}"[:500])


def _apply_in_worker(
    checks: Sequence[NamedCheck],
    sample: Sample,
    stop_at_failure: bool,
    running: Callable[[int], None],
    given: Mapping[str, Verdict] | None,
) -> dict[str, Verdict]:
    return _apply(checks, sample, stop_at_failure=stop_at_failure, running=running, given=given)


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
    ) -> None:
        # cheap first: an expensive check only runs when every cheap one passed
        self.chain = [c for c in checks if not c.expensive] + [c for c in checks if c.expensive]
        self.order = [c.name for c in checks]
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.timeout_s = timeout_s
        self.all_checks = all_checks
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

    def verdicts(self, samples: Sequence[Sample]) -> list[dict[str, Verdict]]:
        """Every per-sample check's verdict on each sample, in order."""
        if not samples:
            return []
        if self.workers == 0:
            return [_apply(self.chain, sample, stop_at_failure=not self.all_checks) for sample in samples]
        return self._get_pool().run(samples, stop_at_failure=not self.all_checks, timeout_for=self._timeout_for)
