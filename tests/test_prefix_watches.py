"""The watches are prefix-monotone, checked as properties over many chunkings: no prefix of an accepted trace
fails one; a doomed trace fails at the same place whatever its chunking, its stored prefix is judged the same
way again, and the whole trace fails that check too."""

import json
import random
from pathlib import Path

import pytest
from r1_answers import CASES
from test_stream_abort import DOOMS, PROBLEM, paragraphs, r1

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.prefix import PromptContext, StreamJudge, prefix_verdicts
from cotfactory.filters.runner import DEFAULT_CHECKS, build_checks

# Accepted traces whose spans cross blank lines or mix scripts where the language check allows it.
TRICKY_ACCEPTED = [
    (PROBLEM, "math", r1([*paragraphs(2, 1), "$$\n\\text{面积} = 6 \\times 7\n\n= 42\n$$", *paragraphs(2, 2)]), "42"),
    (
        PROBLEM,
        "math",
        r1([*paragraphs(2, 3), "\\[\n\\begin{aligned}\n6 \\cdot 7 &= 42\n\n\\end{aligned}\n\\]", *paragraphs(2, 4)]),
        "42",
    ),
    (
        "计算 $6 \\times 7$ 的值。",
        "math",
        "<think>\n我们计算 $6 \\times 7$，用 sin 和 log 无关。\n\n所以结果是 42。\n</think>\n\n答案是 $\\boxed{42}$。",
        "42",
    ),
    (PROBLEM, "math", "<think>" + "\n\n".join(paragraphs(30, 5)) + "</think>\\boxed{42}", "42"),
    (PROBLEM, "math", "Preamble <think>" + "\n \n\n".join(paragraphs(12, 6)) + "\n\n\n</think>\n\\boxed{42}", "42"),
]
# A code problem's fenced code (with a blank line and a comment in another script) never aborts it.
CODE_TRACE = r1([*paragraphs(2, 7), "```python\n# 计算乘积\n\ndef f():\n    return 6 * 7\n```", *paragraphs(2, 8)])


def chunked(text: str, rng: random.Random) -> list[str]:
    pieces, start = [], 0
    while start < len(text):
        size = rng.choice((1, 1, 2, 3, 7, 8, 16, 40))
        pieces.append(text[start : start + size])
        start += size
    return pieces


def first_failure(judge: StreamJudge, pieces: list[str]) -> tuple[str, int] | None:
    for piece in pieces:
        if (failure := judge.feed(piece)) is not None:
            return failure[0], len(judge.text)
    return None


def judge_of(chain: Chain, problem: str, domain: str) -> StreamJudge:
    judge = chain.stream_judge(PromptContext(problem, domain))
    assert judge is not None
    return judge


Trace = tuple[str, str, str, str]  # problem, domain, completion, reference


def accepted_traces(chain: Chain, traces: list[Trace]) -> list[Trace]:
    samples = [
        Sample.from_completion(p, text, domain=d, reference=r, finish_reason="stop") for p, d, text, r in traces
    ]
    return [trace for trace, decision in zip(traces, chain.run(samples), strict=True) if decision.accepted]


def assert_never_doomed(chain: Chain, traces: list[Trace], chunkings: int) -> None:
    rng = random.Random(7)
    for problem, domain, text, _ in traces:
        for chunking in range(chunkings):
            pieces = list(text) if chunking == 0 else chunked(text, rng)  # every prefix, then random cuts
            assert first_failure(judge_of(chain, problem, domain), pieces) is None, text[:200]


def test_no_prefix_of_an_accepted_trace_is_doomed() -> None:
    built_in = [
        (problem, "math", f"<think>\n{case[2]}\n</think>\n\n{case[3]}", case[0])
        for problem, case in CASES.items()
        if case[1] is None
    ]
    with Chain(build_checks(), workers=0) as chain:
        traces = accepted_traces(chain, built_in + TRICKY_ACCEPTED)
        assert len(traces) == len(built_in) + len(TRICKY_ACCEPTED), "every example is accepted whole"
        assert_never_doomed(chain, traces, chunkings=4)
        assert_never_doomed(chain, [(PROBLEM, "code", CODE_TRACE, "")], chunkings=4)


@pytest.mark.parametrize(("check", "reason", "doom", "checks"), DOOMS, ids=[d[0] for d in DOOMS])
def test_a_doomed_trace_fails_the_same_way_whatever_its_chunking(
    check: str, reason: str, doom: list, checks: list
) -> None:
    text = r1([*paragraphs(3), *doom, *paragraphs(40)])
    rng = random.Random(check)
    with (
        Chain(build_checks(checks), workers=0) as chain,
        Chain(build_checks(checks), workers=0, all_checks=True) as every,
    ):
        failures = {first_failure(judge_of(chain, PROBLEM, "math"), chunked(text, rng)) for _ in range(12)}
        failures.add(first_failure(judge_of(chain, PROBLEM, "math"), list(text)))
        assert {f[0] for f in failures if f} == {check} and None not in failures
        for _, cut in failures:  # type: ignore[misc]
            prefix = text[:cut]
            sample = Sample.from_completion(PROBLEM, prefix, finish_reason=f"aborted:{check}", completion_tokens=cut)
            verdicts = prefix_verdicts(judge_of(chain, PROBLEM, "math"), sample)
            assert verdicts[check].reason == reason and all(v.passed for n, v in verdicts.items() if n != check)
        (whole,) = every.run(
            [Sample.from_completion(PROBLEM, text, finish_reason="stop", completion_tokens=len(text))]
        )
        assert whole.verdicts[check].reason == reason, "the whole trace fails the check that aborted its prefix"


def _real_traces(shared_data: Path) -> list[Trace]:
    traces = []
    for name in ("qwen25math_cot_maj8", "minimind_r1_toy_zh", "curator_s1k_gemini_fixture"):
        for line in (shared_data / "traces" / name / "traces.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row.get("label_correct") is False:
                continue
            text, reference = row["trace"], str(row.get("reference_final") or row["reference"])
            if "</think>" not in text:  # an answer-only trace: its working is the reasoning
                text = f"<think>\n{text}\n</think>\n\n\\boxed{{{reference}}}"
            traces.append((row["problem"], "math", text, reference))
    return traces


@pytest.mark.realdata
def test_no_prefix_of_an_accepted_real_trace_is_doomed(shared_data: Path) -> None:
    with Chain(build_checks(list(DEFAULT_CHECKS)), workers=0) as chain:
        traces = accepted_traces(chain, _real_traces(shared_data))
        assert len(traces) > 500
        assert_never_doomed(chain, traces, chunkings=2)
