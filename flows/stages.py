"""The stages of a run's check chain that judge a sample against more than itself: decontamination (its
prompt against registered benchmarks) and dedup (its completion against the store's index and the other
samples of its commit). They only add verdicts; a sample's decision (accepted, or its first failing check) is
made once, from every verdict of the chain, by the check runner."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import duckdb

from cotfactory.filters.checks import Sample, Verdict, failed, passed
from cotfactory.flows.decontam import Decontaminator
from cotfactory.flows.dedup import CHECK_NAME as DEDUP_CHECK
from cotfactory.flows.dedup import StoredDedup
from cotfactory.storage.ids import sample_id_for

DECONTAM_CHECK = "decontam"


class BatchStage(Protocol):
    """A check over a whole commit: verdicts for some of `samples`, by position. `passing` are the positions
    that every earlier check of the chain passed."""

    name: str

    def judge(
        self, con: duckdb.DuckDBPyConnection, samples: Sequence[Sample], passing: Sequence[int]
    ) -> dict[int, Verdict]: ...


@dataclass
class DecontamStage:
    """Every sample of a prompt that overlaps a registered benchmark fails, naming the shared n-gram; judged on
    every sample (it is a fact about the prompt), so a sample an earlier check rejected records it too."""

    decontaminator: Decontaminator
    name: str = DECONTAM_CHECK

    def judge(
        self, con: duckdb.DuckDBPyConnection, samples: Sequence[Sample], passing: Sequence[int]
    ) -> dict[int, Verdict]:
        found = {s.prompt_id: self.decontaminator.find(s.problem) for s in samples}
        verdicts = {}
        for position, sample in enumerate(samples):
            hit = found[sample.prompt_id]
            verdicts[position] = passed() if hit is None else failed("contaminated", None, str(hit))
        return verdicts


@dataclass
class DedupStage:
    """The samples every earlier check passed, against the store's index and each other (`StoredDedup`), in the
    commit's transaction; the ones that pass join the index. `rejudging`: the completions are recorded ones
    served again (replay), so one the store already holds is the same sample, not a duplicate of it."""

    dedup: StoredDedup
    model: str
    rejudging: bool = False
    name: str = field(default=DEDUP_CHECK)

    def judge(
        self, con: duckdb.DuckDBPyConnection, samples: Sequence[Sample], passing: Sequence[int]
    ) -> dict[int, Verdict]:
        ids = [sample_id_for(samples[i].prompt_id, self.model, samples[i].completion) for i in passing]
        texts = [samples[i].completion for i in passing]
        verdicts = self.dedup.apply(con, ids, texts, rejudging=self.rejudging)
        return dict(zip(passing, verdicts, strict=True))
