"""The check chain: the one place where a sample's fate is decided.

A chain is the per-sample checks (run in worker processes, cheap ones first) followed by steps that judge a
group of samples together: the majority vote, the LLM judge, steps registered by name, decontamination and
dedup. Every step meets one protocol (`Step`): it sees the group, the positions every earlier part of the chain
passed, and a context (the store, when there is one); it returns verdicts under its own name. A step that
overrules another declares it (`overrules`). The chain alone turns the verdicts into decisions: accepted, or
the first failing check in chain order, with every verdict kept. `cotfactory run`, `cotfactory check` and
`curate` use this one object, so an audit of a run's traces reproduces the run.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb

from cotfactory.filters.checks import REGISTRY, Sample, Verdict, failed
from cotfactory.filters.prefix import PromptContext, StreamJudge, aborted_by, prefix_verdicts
from cotfactory.filters.runner import CheckRunner, NamedCheck
from cotfactory.samplers.base import TARGET_MET  # not a rejection: left out of pass rates


@dataclass
class Decision:
    """Accepted, or the first failing check and its reason; with every verdict that was computed."""

    accepted: bool
    reason: str | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    check: str | None = None  # the first failing check

    def outcome_fields(self) -> dict[str, Any]:
        """The decision as an outcome row's columns."""
        return {"accepted": self.accepted, "reject_check": self.check, "reject_reason": self.reason}


@dataclass
class ChainContext:
    """What the steps of one group may use. `connection`: the store, inside the transaction that stores the
    group (None: no store). `read_only`: an audit, whose steps read the store's indexes and write nothing.
    `rejudging`: the completions are recorded ones judged again (a replay, an audit), so a completion the store
    holds is the same sample, not a duplicate of it. `verdicts`: every verdict so far, by position."""

    connection: duckdb.DuckDBPyConnection | None = None
    read_only: bool = False
    rejudging: bool = False
    verdicts: Sequence[Mapping[str, Verdict]] = ()


class Step(Protocol):
    """A part of the chain that judges a group of samples together. `prepare` runs before any check (the vote
    gives samples without a reference their majority answer; most steps return the samples unchanged); `judge`
    runs after the per-sample checks and the steps before it, on the group, and returns verdicts by position.
    `passing` are the positions that every earlier part of the chain passed, less the failures this step
    overrules. `needs_store`: judged inside the transaction that stores the group (its index is the store's)."""

    name: str
    overrules: tuple[str, ...]
    needs_store: bool

    def prepare(self, samples: Sequence[Sample]) -> list[Sample]: ...

    def judge(
        self, samples: Sequence[Sample], passing: Sequence[int], context: ChainContext
    ) -> dict[int, Verdict]: ...


class GroupStep:
    """What most steps share: they change no sample before the checks, overrule nothing and need no store. A
    step registered by name (`checks.register(..., cost="group")`) is named after its entry."""

    name: str = ""
    overrules: tuple[str, ...] = ()
    needs_store: bool = False

    def prepare(self, samples: Sequence[Sample]) -> list[Sample]:
        return list(samples)


@dataclass
class Judging:
    """A group part way through the chain: the samples as the checks saw them and the verdicts so far."""

    samples: list[Sample]
    verdicts: list[dict[str, Verdict]]


class Chain:
    """The per-sample checks and the steps of a run, built once; `run` decides a group of samples."""

    def __init__(
        self,
        checks: Sequence[NamedCheck],
        steps: Sequence[Step] = (),
        *,
        workers: int | None = None,
        timeout_s: float = 30.0,
        all_checks: bool = False,
    ) -> None:
        stored = [s.needs_store for s in steps]
        if stored != sorted(stored):
            raise ValueError("steps that use the store come last in a chain")
        self.checks = CheckRunner(checks, workers=workers, timeout_s=timeout_s, all_checks=all_checks)
        self.steps = list(steps)
        self.order = [*(c.name for c in checks), *(s.name for s in steps)]
        self._overruled_by = {s.name: set(s.overrules) for s in steps if s.overrules}
        # the checks that declare prefix-monotone reasons, in chain order: they watch streams
        self.watching = [c for c in checks if c.name in REGISTRY and REGISTRY[c.name].prefix_reasons]

    def __enter__(self) -> "Chain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self, domains: Iterable[str]) -> None:
        """Let each check prepare for samples of these domains (raises CheckSetupError naming what is missing)."""
        self.checks.setup(set(domains))

    def start(self) -> None:
        """Start the check workers now rather than on the first group."""
        self.checks.start()

    def close(self) -> None:
        self.checks.close()

    @property
    def workers_replaced(self) -> int:
        return self.checks.workers_replaced

    def stream_judge(self, context: PromptContext, *, opened_by_template: bool = False) -> StreamJudge | None:
        """A judge of one stream of this prompt, by the chain's prefix-monotone checks (None: nothing to watch)."""
        watches = [(c.name, w) for c in self.watching if (w := c.check.watch(context)) is not None]
        return StreamJudge(watches, opened_by_template=opened_by_template) if watches else None

    def _aborted_verdicts(self, sample: Sample) -> dict[str, Verdict]:
        """An aborted sample is judged on the prefix it has by the watches alone, as its stream was: the checks
        that need the whole sample (an answer, a closed reasoning) never see a cut text."""
        check = aborted_by(sample)
        if check == TARGET_MET:
            return {TARGET_MET: failed(TARGET_MET)}
        context = PromptContext(sample.problem, sample.domain, sample.target_language)
        verdicts = self._prefix_verdicts(context, sample, opened=True if sample.opened_by_template else None)
        if all(v.passed for v in verdicts.values()):  # aborted by a check this chain does not watch
            verdicts["aborted"] = failed("aborted", detail=f"{sample.finish_reason}: no watched check fails")
        return verdicts

    def _prefix_verdicts(self, context: PromptContext, sample: Sample, opened: bool | None) -> dict[str, Verdict]:
        """The watches' verdicts on a stored prefix. Whether the chat template opened the reasoning is not stored:
        a prefix with a think tag, or from a server that splits the reasoning, reads the same either way; one
        without is read both ways, and the way whose first failure is the check that aborted it is the way its
        stream was read (opened by the template, as R1-distill templates do, when neither or both are)."""
        if opened is None and (sample.think == "server_split" or "think>" in sample.completion.lower()):
            opened = False
        first: dict[str, Verdict] | None = None
        for reading in [True, False] if opened is None else [opened]:
            judge = self.stream_judge(context, opened_by_template=reading)
            if judge is None:
                return {}
            verdicts = prefix_verdicts(judge, sample)
            if judge.failure is not None and judge.failure[0] == aborted_by(sample):
                return verdicts
            first = verdicts if first is None else first
        return first or {}

    def per_sample(self, samples: Sequence[Sample]) -> list[dict[str, Verdict]]:
        """Every per-sample verdict: samples aborted mid-stream by their prefix, the others by the checks."""
        whole = [i for i, s in enumerate(samples) if aborted_by(s) is None]
        checked = iter(self.checks.verdicts([samples[i] for i in whole]))
        kept = set(whole)
        return [next(checked) if i in kept else self._aborted_verdicts(s) for i, s in enumerate(samples)]

    def begin(self, samples: Sequence[Sample], context: ChainContext | None = None) -> Judging:
        """The parts of the chain that need no store: the steps' preparation, the per-sample checks, and the steps
        before the first that judges against the store (a judge's requests need no open transaction)."""
        prepared = list(samples)
        for step in self.steps:
            prepared = step.prepare(prepared)
        judging = Judging(prepared, self.per_sample(prepared))
        self._judge(judging, [s for s in self.steps if not s.needs_store], context or ChainContext())
        return judging

    def finish(self, judging: Judging, context: ChainContext | None = None) -> list[Decision]:
        """The steps that judge against the store (inside the caller's transaction), then each decision."""
        self._judge(judging, [s for s in self.steps if s.needs_store], context or ChainContext())
        return [self.decide(verdicts) for verdicts in judging.verdicts]

    def run(self, samples: Sequence[Sample], context: ChainContext | None = None) -> list[Decision]:
        """A decision per sample, in order."""
        return self.finish(self.begin(samples, context), context)

    def _judge(self, judging: Judging, steps: Sequence[Step], context: ChainContext) -> None:
        for step in steps:
            context.verdicts = judging.verdicts
            passing = [i for i, v in enumerate(judging.verdicts) if not self.failures(v, ignoring=set(step.overrules))]
            for position, verdict in step.judge(judging.samples, passing, context).items():
                judging.verdicts[position][step.name] = verdict

    def failures(
        self, verdicts: Mapping[str, Verdict], ignoring: set[str] | frozenset[str] = frozenset()
    ) -> list[str]:
        """The failing checks in chain order, less those a passing step overrules (verdicts of names the chain
        does not know, such as a check worker's crash under an unlisted name, come last)."""
        overruled = set(ignoring)
        for name, targets in self._overruled_by.items():
            if name in verdicts and verdicts[name].passed:
                overruled |= targets
        order = [*self.order, *(name for name in verdicts if name not in self.order)]
        return [name for name in order if name in verdicts and name not in overruled and not verdicts[name].passed]

    def decide(self, verdicts: dict[str, Verdict]) -> Decision:
        """Accepted when nothing failed; else rejected by the first failing check."""
        failures = self.failures(verdicts)
        if not failures:
            return Decision(True, None, verdicts)
        return Decision(False, verdicts[failures[0]].reason, verdicts, failures[0])
