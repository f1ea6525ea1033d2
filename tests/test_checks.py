"""Every reason code of the default chain on real-looking traces, the check registry, and the runner."""

import fake_checks  # noqa: F401 (registers spin_forever and raises)
import pytest

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import REGISTRY, Sample
from cotfactory.filters.runner import DEFAULT_CHECKS, CheckConfigError, build_checks

MATH_REASONING = (
    "We need $\\frac{1}{2} + \\frac{1}{3}$. The common denominator is $6$, so this is "
    "$\\frac{3}{6} + \\frac{2}{6} = \\frac{5}{6}$.\n\nCheck: $0.5 + 0.333\\ldots = 0.8\\overline{3}$, which is "
    "$\\frac{5}{6}$. Good."
)
RIGHT = f"<think>\n{MATH_REASONING}\n</think>\n\nThe sum is $\\boxed{{\\dfrac{{5}}{{6}}}}$."
LOOP = "Wait, let me recompute the denominator of the second fraction once more to be sure."
LOOPING = "\n\n".join([LOOP] * 60)
# one paragraph of 900 distinct words: long, and not a loop
LONG_PARAGRAPH = " ".join(f"step{i}" for i in range(900))

CASES = [
    # (id, completion, fields, expected reason or None for accepted)
    ("correct latex", RIGHT, {}, None),
    ("correct, template opened think", RIGHT.replace("<think>\n", ""), {"opened_by_template": True}, None),
    ("equivalent fraction", RIGHT.replace("\\dfrac{5}{6}", "\\frac{10}{12}"), {}, None),
    ("wrong answer", RIGHT.replace("\\dfrac{5}{6}", "\\frac{2}{5}"), {}, "wrong_answer"),
    ("no answer", RIGHT.replace("The sum is $\\boxed{\\dfrac{5}{6}}$.", "I am not sure."), {}, "no_answer"),
    # the cause (cut at max_tokens) comes before the unclosed reasoning it leaves
    ("truncated", f"<think>\n{MATH_REASONING} So the next step", {"finish_reason": "length"}, "truncated"),
    ("truncated after think", RIGHT, {"finish_reason": "length"}, "truncated"),
    ("unclosed think", f"<think>\n{MATH_REASONING}\n\nThe sum is 5/6.", {}, "unclosed_think"),
    ("untagged", "The sum is $\\boxed{\\frac{5}{6}}$.", {}, "unclosed_think"),
    ("stray tags", RIGHT + "\n<think>more</think>", {}, "extra_think_tags"),
    ("empty reasoning", "<think>\n\n</think>\n\n$\\boxed{\\frac{5}{6}}$", {}, "empty_reasoning"),
    ("empty answer", f"<think>\n{MATH_REASONING}\n</think>\n\n", {}, "empty_answer"),
    ("looping", f"<think>\n{LOOPING}\n</think>\n\n$\\boxed{{\\frac{{5}}{{6}}}}$", {}, "repetition"),
    ("long paragraph", f"<think>\n{LONG_PARAGRAPH}\n</think>\n\n$\\boxed{{\\frac{{5}}{{6}}}}$", {}, "long_paragraph"),
    (
        "code in reasoning",
        f"<think>\n{MATH_REASONING}\n```python\nprint(1/2 + 1/3)\n```\n</think>\n\n$\\boxed{{\\frac{{5}}{{6}}}}$",
        {},
        "code_in_reasoning",
    ),
    ("two boxed answers", RIGHT + " Or maybe $\\boxed{\\frac{2}{5}}$.", {}, "multiple_final_answers"),
    ("same answer boxed twice", RIGHT + " Again: $\\boxed{\\dfrac{5}{6}}$.", {}, None),
    ("no reference", RIGHT, {"reference": None}, "no_reference"),
    ("too long", RIGHT, {"completion_tokens": 40000}, None),
    (
        "gsm8k commas",
        "<think>\n1,200 pens a day for 3 days is 1,200 * 3 = 3,600.\n</think>\n\nThe answer is $\\boxed{3,600}$.",
        {"reference": "3600"},
        None,
    ),
    (
        "gsm8k units",
        "<think>\n9 eggs at $2 each.\n</think>\n\nShe makes \\boxed{18} dollars.",
        {"reference": "18.0"},
        None,
    ),
    (
        "chinese reasoning",
        "<think>\n小明有 15 个苹果，送出 6 个后剩 9 个，又买了 4 个，所以 $9 + 4 = 13$。\n</think>\n\n"
        "答案是 $\\boxed{13}$。",
        {"reference": "13", "target_language": "zh"},
        None,
    ),
    (
        "mixed zh/en reasoning",
        f"<think>\n{MATH_REASONING} 所以答案是六分之五。\n</think>\n\nThe sum is $\\boxed{{\\frac{{5}}{{6}}}}$.",
        {},
        "language_mixed",
    ),
    (
        "choice right",
        "<think>\nOption C fits.\n</think>\n\nThe answer is \\boxed{C}.",
        {"domain": "choice", "reference": "C"},
        None,
    ),
    (
        "choice by option text",
        "<think>\nz = 1 - i.\n</think>\n\nSo $z = 1-\\mathrm{i}$.",
        {"domain": "choice", "reference": "C. 1-\\mathrm{i}"},
        None,
    ),
    (
        "choice wrong",
        "<think>\nB fits.\n</think>\n\nAnswer: B",
        {"domain": "choice", "reference": "C"},
        "wrong_answer",
    ),
    ("pathological latex", RIGHT.replace("\\dfrac{5}{6}", "9^{9^{9^{9^{9}}}}"), {}, "verify_timeout"),
]


def make_sample(completion: str, fields: dict) -> Sample:
    fields = {"reference": "\\frac{5}{6}", **fields}
    opened = fields.pop("opened_by_template", False)
    return Sample.from_completion("What is $\\frac12 + \\frac13$?", completion, opened_by_template=opened, **fields)


@pytest.fixture(scope="module")
def runner() -> Chain:
    checks = build_checks([*DEFAULT_CHECKS[:-1], {"name": "math_verify", "timeout_s": 2}])
    with Chain(checks, workers=2, timeout_s=20) as runner:
        yield runner


@pytest.fixture(scope="module")
def math_runner() -> Chain:
    with Chain(build_checks(["math_verify"]), workers=1) as runner:
        yield runner


@pytest.mark.parametrize(("completion", "fields", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reason_codes(runner: Chain, completion: str, fields: dict, reason: str | None) -> None:
    (decision,) = runner.run([make_sample(completion, fields)])
    assert decision.reason == reason
    assert decision.accepted == (reason is None)
    if reason is not None:
        failing = [name for name, verdict in decision.verdicts.items() if not verdict.passed]
        assert failing and decision.verdicts[failing[0]].reason == reason


def test_batch_keeps_order_and_skips_expensive_checks_for_rejects(runner: Chain) -> None:
    samples = [make_sample(c[1], c[2]) for c in CASES[:8]]
    decisions = runner.run(samples)
    assert [d.reason for d in decisions] == [c[3] for c in CASES[:8]]
    truncated = decisions[5]
    assert "math_verify" not in truncated.verdicts, "expensive checks only run on samples that passed the cheap ones"
    assert decisions[0].verdicts["math_verify"].score == 1.0


def test_all_checks_mode_computes_everything() -> None:
    with Chain(build_checks(), workers=1, all_checks=True) as runner:
        (decision,) = runner.run([make_sample(f"<think>\n{LOOPING}\n</think>\n\n$\\boxed{{7}}$", {})])
    assert set(decision.verdicts) == set(DEFAULT_CHECKS)
    assert decision.reason == "repetition" and decision.verdicts["math_verify"].reason == "wrong_answer"


def test_scores_hold_the_measured_values(runner: Chain) -> None:
    (decision,) = runner.run([make_sample(f"<think>\n{LOOPING}\n</think>\n\n$\\boxed{{7}}$", {})])
    assert 0.9 < decision.verdicts["repetition"].score <= 1.0
    (ok,) = runner.run([make_sample(RIGHT, {})])
    assert ok.verdicts["repetition"].score == 0.0
    assert ok.verdicts["long_paragraph"].score == max(len(p) for p in MATH_REASONING.split("\n\n"))


def test_a_hung_check_times_out_without_breaking_the_batch() -> None:
    checks = build_checks(["think_format", "spin_forever"])
    samples = [make_sample(RIGHT, {}), make_sample("no tags", {}), make_sample(RIGHT, {})]
    with Chain(checks, workers=1, timeout_s=1.0) as runner:
        decisions = runner.run(samples)
        assert [d.reason for d in decisions] == ["verify_timeout", "unclosed_think", "verify_timeout"]
        assert runner.run([make_sample("no tags", {})])[0].reason == "unclosed_think", "the runner still works"


def test_a_check_that_raises_becomes_a_verdict() -> None:
    with Chain(build_checks(["raises"]), workers=1) as runner:
        decisions = runner.run([make_sample(RIGHT, {}), make_sample(RIGHT, {})])
    assert [d.reason for d in decisions] == ["check_error", "check_error"]
    assert decisions[0].verdicts["raises"].detail == "KeyError: 'boom'"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["no_such_check"], "unknown check 'no_such_check'"),
        ([{"name": "repetition", "max_ration": 0.3}], "check 'repetition' has no setting 'max_ration'"),
        ([{"name": "repetition", "max_ratio": "lots"}], "check 'repetition', setting 'max_ratio'"),
    ],
)
def test_bad_check_config_names_the_problem(entries: list, message: str) -> None:
    with pytest.raises(CheckConfigError, match=message):
        build_checks(entries)


def test_every_registered_reason_is_snake_case() -> None:
    for spec in REGISTRY.values():
        for reason in spec.reasons:
            assert reason.replace("_", "").isalpha() and reason == reason.lower()


@pytest.mark.parametrize(
    ("answer", "reference", "passes"),
    [
        ("The answer is for sure D, it can't be A or B", "D", True),
        ("D. it can't be A or B", "D", True),
        ("B。不是 A", "B", True),
        ("So the answer is \\boxed{C}.", "(C) Cecile", True),
        ("I pick A.", "Alina and the answer is\n(C) Cecile", False),
    ],
)
def test_choice_letters(answer: str, reference: str, passes: bool) -> None:
    from cotfactory.filters.choice import Choice

    verdict = Choice()(Sample("q", answer, "r", answer, "tagged", reference=reference, domain="choice"))
    assert verdict.passed == passes, verdict


@pytest.mark.parametrize(
    ("answer", "reference", "reason"),
    [
        ("$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$", "(2, 2), (6, 2)", None),
        ("$\\boxed{-2,1}$", "1, -2", None),
        ("$\\boxed{-2.1}$", "-2,1", "wrong_answer"),
        ("$\\boxed{0.111}$", "0,111", None),
        ("$\\boxed{3,600}$", "3600", None),
        ("$\\boxed{28 percent}$", "28\\%", None),
        ("$\\boxed{6 \\text{ and } 8}$", "6, 8", None),
        ("$\\boxed{1 000}$", "1000", None),
        ("$\\boxed{32, 349}$", "32349", "wrong_answer"),
        ("$x \\in \\boxed{(2,12) \\cup (12,102)}$", "$(2, 12) \\cup (12, 102)$", None),
        ("$\\boxed{(2,12) \\cup (12102)}$", "$(2, 12) \\cup (12, 102)$", "wrong_answer"),
        (
            "$\\boxed{x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}}$",
            "$x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}$",
            None,
        ),
        ("The train leaves at $\\boxed{12:00}$", "12:00", None),
        ("The train leaves at $\\boxed{12:30}$", "12:00", "wrong_answer"),
    ],
)
def test_math_answers_of_several_parts(math_runner: Chain, answer: str, reference: str, reason: str | None) -> None:
    (decision,) = math_runner.run(
        [make_sample(f"<think>\n{MATH_REASONING}\n</think>\n\n{answer}", {"reference": reference})]
    )
    assert decision.verdicts["math_verify"].reason == reason


@pytest.mark.parametrize(
    ("settings", "answer", "reference", "reason"),
    [
        ({}, "$\\boxed{0.33}$", "\\frac{1}{3}", "wrong_answer"),
        ({"float_rounding": 2}, "$\\boxed{0.33}$", "\\frac{1}{3}", None),
        ({}, "$\\boxed{f(y)}$", "$f(x)$", "wrong_answer"),
        ({"strict": False}, "$\\boxed{f(y)}$", "$f(x)$", None),
        ({}, "$\\boxed{-2 \\le x \\le 7}$", "$x \\in [-2,7]$", "wrong_answer"),
        ({"allow_set_relation_comp": True}, "$\\boxed{-2 \\le x \\le 7}$", "$x \\in [-2,7]$", None),
        ({"extraction": ["latex"]}, "Answer $ \n 9 \n $", "9", "no_answer"),
        ({"extraction": ["expr"]}, "so the number is 1,000.99", "1000.99", None),
    ],
)
def test_math_verify_options(settings: dict, answer: str, reference: str, reason: str | None) -> None:
    """math-verify's own options, set by name in a run config's check table."""
    (check,) = build_checks([{"name": "math_verify", **settings}])
    verdict = check.check(make_sample(f"<think>\n{MATH_REASONING}\n</think>\n\n{answer}", {"reference": reference}))
    assert verdict.reason == reason, verdict
