"""Majority vote as the reference of prompts that have none (NeMo-Skills): the most common final answer among
the samples of a prompt's round, when enough samples agree. A step of the chain that runs before the checks."""

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from cotfactory.filters.chain import ChainContext, GroupStep
from cotfactory.filters.checks import Sample, Verdict
from cotfactory.filters.parse import last_boxed


def final_answer(sample: Sample) -> str | None:
    """The last boxed answer after the reasoning, whitespace collapsed; None without one."""
    boxed = last_boxed(sample.answer)
    return " ".join(boxed.split()) if boxed else None


def vote(samples: Sequence[Sample], *, min_votes: int = 2, min_share: float = 0.5) -> list[tuple[Sample, str | None]]:
    """Each sample, with its prompt's reference replaced by the majority answer where it had none.

    The second element tells how the vote went (`4/6 for 42`), or None when the sample kept its own reference.
    Without `min_votes` samples agreeing on more than `min_share` of the answers, the reference stays empty.
    """
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        if not sample.reference:
            groups[(sample.prompt_id or sample.problem, sample.round)].append(index)
    voted: list[tuple[Sample, str | None]] = [(sample, None) for sample in samples]
    for indices in groups.values():
        answers = Counter(answer for i in indices if (answer := final_answer(samples[i])) is not None)
        if not answers:
            continue
        (winner, votes), *rest = answers.most_common()
        tied = bool(rest) and rest[0][1] == votes
        if votes >= min_votes and votes / len(indices) > min_share and not tied:
            for i in indices:
                voted[i] = (dataclasses.replace(samples[i], reference=winner), f"{votes}/{len(indices)} for {winner}")
    return voted


@dataclass
class MajorityVote(GroupStep):
    """The vote as a chain step: `prepare` gives each sample of a prompt without a reference its round's majority
    answer (math_verify then compares against it), and `judge` records how the vote went."""

    min_votes: int = 2
    min_share: float = 0.5
    name = "majority_vote"
    _outcomes: dict[int, str] = field(default_factory=dict, repr=False)

    def prepare(self, samples: Sequence[Sample]) -> list[Sample]:
        voted = vote(samples, min_votes=self.min_votes, min_share=self.min_share)
        self._outcomes = {i: outcome for i, (_, outcome) in enumerate(voted) if outcome is not None}
        return [sample for sample, _ in voted]

    def judge(self, samples: Sequence[Sample], passing: Sequence[int], context: ChainContext) -> dict[int, Verdict]:
        return {i: Verdict(True, None, None, outcome) for i, outcome in self._outcomes.items()}
