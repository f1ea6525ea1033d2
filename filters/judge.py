"""An LLM judge as the fallback for answers math-verify rejected (open-r1 used a 70B judge this way; R1 used
DeepSeek-V3 as a generative reward model). Any Sampler serves it, e.g. a served model through openai_http."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cotfactory.filters.checks import Sample, Verdict, failed, passed
from cotfactory.samplers.base import Sampler, SamplingParams, requests_for

JUDGE_PROMPT = """You compare a student's final answer with the reference answer of a math problem.

Problem:
{problem}

Reference answer:
{reference}

Student's final answer (the end of the solution):
{answer}

Are the two answers mathematically equivalent?
Reply with one word on the last line: EQUIVALENT, DIFFERENT or AMBIGUOUS."""
_JUDGEMENT = re.compile(r"\b(EQUIVALENT|DIFFERENT|AMBIGUOUS)\b")


def judgement_of(text: str) -> str:
    """The last of EQUIVALENT / DIFFERENT / AMBIGUOUS in the judge's reply; AMBIGUOUS when there is none."""
    found = _JUDGEMENT.findall(text.upper())
    return found[-1] if found else "AMBIGUOUS"


@dataclass
class LlmJudge:
    """Asks `sampler` to judge, in one batch, every sample whose answer was rejected as `wrong_answer`."""

    sampler: Sampler
    params: SamplingParams = field(default_factory=lambda: SamplingParams(n=1, temperature=0.0, max_tokens=1024))
    max_answer_chars: int = 2000

    def judge(self, samples: Sequence[Sample]) -> list[Verdict]:
        questions = [
            JUDGE_PROMPT.format(problem=s.problem, reference=s.reference, answer=s.answer[-self.max_answer_chars :])
            for s in samples
        ]
        replies = self.sampler.generate(requests_for(questions, self.params)) if questions else []
        verdicts = []
        for completions in replies:
            raw = completions[0].text if completions else ""
            judgement = judgement_of(raw)
            if judgement == "EQUIVALENT":
                verdicts.append(passed(1.0, raw[-500:]))
            else:
                verdicts.append(failed(f"judge_{judgement.lower()}", 0.0, raw[-500:]))
        return verdicts
