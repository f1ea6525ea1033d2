"""The LLM judge as a chain step: it sees the samples that failed nothing but math-verify's `wrong_answer`, and
its pass overrules that verdict (open-r1's fallback judge for math-verify's rejects)."""

from collections.abc import Sequence
from dataclasses import dataclass

from cotfactory.filters.chain import ChainContext, GroupStep
from cotfactory.filters.checks import Sample, Verdict
from cotfactory.filters.judge import LlmJudge

OVERRULED = "math_verify"


@dataclass
class JudgeStep(GroupStep):
    """Asks the judge about every sample math-verify rejected as a wrong answer and nothing else rejected."""

    llm: LlmJudge
    name = "llm_judge"
    overrules = (OVERRULED,)

    def judge(self, samples: Sequence[Sample], passing: Sequence[int], context: ChainContext) -> dict[int, Verdict]:
        wrong = [i for i in passing if _rejected_as_wrong(context.verdicts[i].get(OVERRULED))]
        return dict(zip(wrong, self.llm.judge([samples[i] for i in wrong]), strict=True))


def _rejected_as_wrong(verdict: Verdict | None) -> bool:
    return verdict is not None and verdict.reason == "wrong_answer"
