"""Majority vote for prompts without a reference, and the LLM judge as math-verify's fallback."""

from typing import Any

from openai_server import OpenAIServer

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.judge import LlmJudge, judgement_of
from cotfactory.filters.judge_step import JudgeStep
from cotfactory.filters.majority import MajorityVote
from cotfactory.filters.runner import build_checks
from cotfactory.samplers.openai_http import OpenAIHttpConfig, OpenAIHttpSampler


def sample(answer: str, *, reference: str | None = None, prompt_id: str = "p1") -> Sample:
    completion = f"<think>\nWorking it out carefully.\n</think>\n\n{answer}"
    return Sample.from_completion("Compute it.", completion, reference=reference, prompt_id=prompt_id)


def test_majority_answer_becomes_the_reference() -> None:
    batch = [sample(f"$\\boxed{{{a}}}$") for a in ("42", "42", "41", "42")] + [
        sample("$\\boxed{7}$", prompt_id="p2"),
        sample("$\\boxed{8}$", prompt_id="p2"),
        sample("$\\boxed{5}$", reference="5", prompt_id="p3"),
    ]
    with Chain(build_checks(["math_verify"]), [MajorityVote()], workers=1) as runner:
        decisions = runner.run(batch)
    assert [d.reason for d in decisions] == [None, None, "wrong_answer", None, "no_reference", "no_reference", None]
    assert decisions[0].verdicts["majority_vote"].detail == "3/4 for 42"
    assert "majority_vote" not in decisions[6].verdicts, "a prompt with a reference keeps it"
    with Chain(build_checks(["math_verify"]), workers=1) as runner:
        assert {d.reason for d in runner.run(batch[:4])} == {"no_reference"}, "off by default"


def judge_reply(body: dict[str, Any], index: int) -> dict[str, Any]:
    student = body["messages"][-1]["content"].split("Student's final answer")[1]
    verdict = "EQUIVALENT" if "one half" in student else "DIFFERENT"
    return {"role": "assistant", "content": f"The reference is 1/2.\n{verdict}"}


def test_judge_overrules_math_verify_rejects_only() -> None:
    batch = [
        sample("$\\boxed{\\frac{1}{2}}$", reference="\\frac{1}{2}"),
        sample("The answer is \\boxed{one half}.", reference="\\frac{1}{2}"),
        sample("The answer is \\boxed{2/3}.", reference="\\frac{1}{2}"),
        Sample.from_completion("Compute it.", "<think>cut off", reference="\\frac{1}{2}"),
    ]
    with OpenAIServer(answer=judge_reply) as server:
        judge = LlmJudge(OpenAIHttpSampler(OpenAIHttpConfig(base_url=server.url, model="judge-70b")))
        with Chain(build_checks(["think_format", "math_verify"]), [JudgeStep(judge)], workers=1) as runner:
            decisions = runner.run(batch)
    assert [d.reason for d in decisions] == [None, None, "wrong_answer", "unclosed_think"]
    assert decisions[2].verdicts["llm_judge"].reason == "judge_different", "the judge agreed it is wrong"
    assert len(server.requests) == 2, "only math-verify's wrong answers reach the judge"
    assert decisions[1].verdicts["math_verify"].reason == "wrong_answer", "math-verify's own verdict is kept"
    assert decisions[1].verdicts["llm_judge"].detail.endswith("EQUIVALENT")


def test_judgement_parsing() -> None:
    assert judgement_of("Thinking... they differ.\nDIFFERENT") == "DIFFERENT"
    assert judgement_of("equivalent") == "EQUIVALENT"
    assert judgement_of("I cannot tell") == "AMBIGUOUS"
