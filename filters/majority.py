"""Majority vote as the reference of prompts that have none (NeMo-Skills): the most common final answer among
a prompt's samples in the batch, when enough samples agree."""

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence

from cotfactory.filters.checks import Sample
from cotfactory.storage.prompt_fields import last_boxed


def final_answer(sample: Sample) -> str | None:
    """The last boxed answer after the reasoning, whitespace collapsed; None without one."""
    boxed = last_boxed(sample.answer)
    return " ".join(boxed.split()) if boxed else None


def vote(samples: Sequence[Sample], *, min_votes: int = 2, min_share: float = 0.5) -> list[tuple[Sample, str | None]]:
    """Each sample, with its prompt's reference replaced by the majority answer where it had none.

    The second element tells how the vote went (`4/6 for 42`), or None when the sample kept its own reference.
    Without `min_votes` samples agreeing on more than `min_share` of the answers, the reference stays empty.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        if not sample.reference:
            groups[sample.prompt_id or sample.problem].append(index)
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
