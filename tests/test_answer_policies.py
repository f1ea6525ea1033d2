"""Percent, currency and units read with the problem's help, and the format policies where graders differ: each
a named setting of `math_verify` with a default, tested under each of its settings."""

import pytest
from answer_cases import reason_for

from cotfactory.filters.correctness import MathVerify

PERCENT = "What percent of the students passed?"


@pytest.mark.parametrize(
    ("reference", "boxed", "problem", "reason"),
    [
        ("25\\%", "25", PERCENT, None),
        ("25", "25\\%", PERCENT, None),
        ("25", "25 percent", PERCENT, None),
        ("25\\%", "25 \\text{percent}", PERCENT, None),
        ("25\\%", "0.25", PERCENT, "wrong_answer"),  # the number of percent is asked
        ("25", "0.25", PERCENT, "wrong_answer"),
        ("25\\%", "26\\%", PERCENT, "wrong_answer"),
        ("25\\%", "0.25", "p", None),  # no percentage asked: 25% is the value 0.25
        ("0.25", "25\\%", "What is the probability of heads twice?", None),
        ("10", "10 dollars", "p", None),
        ("10", "10 \\text{ dollars}", "p", None),
        ("10", "\\$10.00", "p", None),
        ("5", "5 euros", "p", None),
        ("5", "€5", "p", None),
        ("5", "5 USD", "p", None),
        ("10", "11 dollars", "p", "wrong_answer"),
        ("5", "€6", "p", "wrong_answer"),
        ("12", "12\\text{ cm}^2", "p", None),
        ("12", "12 \\mathrm{cm}^2", "p", None),
        ("12\\text{ cm}^2", "12", "p", None),
        ("5", "5\\text{ m/s}", "p", None),
        ("3", "3 \\, \\text{kg}", "p", None),
        ("12", "12 \\text{ square feet}", "p", None),
        ("12", "13\\text{ cm}^2", "p", "wrong_answer"),
        ("12", "12^2", "p", "wrong_answer"),  # a power of a number is no unit
        ("144", "12^2", "p", None),
    ],
)
def test_percent_currency_and_units(reference: str, boxed: str, problem: str, reason: str | None) -> None:
    assert reason_for(reference, boxed, problem) == reason


UNBOXED = "We add the parts.\nSo 3 + 4 = 7 apples in all.\nThe total is 7"


def test_an_unboxed_answer_under_each_policy() -> None:
    assert reason_for("7", UNBOXED, box=False) is None  # the default: math-verify's extraction
    assert reason_for("7", UNBOXED, box=False, unboxed_answer="last_line") is None
    assert reason_for("7", "The total is 7.\nI double-checked 8", box=False, unboxed_answer="last_line") == (
        "wrong_answer"
    )
    assert reason_for("7", UNBOXED, box=False, unboxed_answer="reject") == "no_answer"
    assert reason_for("7", "7", unboxed_answer="reject") is None  # a boxed answer under every policy
    assert reason_for("7", "The total is 8", box=False) == "wrong_answer"


@pytest.mark.parametrize(
    ("reference", "boxed", "default", "reject"),
    [
        ("\\frac{1}{2}", "\\frac{2}{4}", None, "wrong_answer"),
        ("\\frac{1}{2}", "\\frac{1}{2}", None, None),
        ("\\frac{1}{2}", "2/4", None, "wrong_answer"),
        ("\\frac{1}{2}", "0.5", None, None),  # a decimal is no fraction
        ("\\frac{3}{4}", "\\frac{6}{8}", None, "wrong_answer"),
        ("\\frac{6}{8}", "\\frac{6}{8}", None, None),  # as the reference writes it
        ("\\frac{1}{3}", "\\frac{2}{4}", "wrong_answer", "wrong_answer"),
        ("\\frac{x}{2}", "\\frac{2x}{4}", None, None),  # only fractions of integers
    ],
)
def test_an_unsimplified_fraction_under_each_policy(
    reference: str, boxed: str, default: str | None, reject: str | None
) -> None:
    assert reason_for(reference, boxed) == default
    assert reason_for(reference, boxed, unsimplified_fraction="reject") == reject


@pytest.mark.parametrize(
    ("reference", "boxed", "meaning", "any_order", "as_given"),
    [
        ("1, 2", "2, 1", None, None, "wrong_answer"),
        ("7, -1, 3", "-1, 3, 7", "wrong_answer", None, "wrong_answer"),
        ("7, -1, 3", "7, -1, 3", None, None, None),
        ("1, 2", "1, 3", "wrong_answer", "wrong_answer", "wrong_answer"),
        ("(3, -4)", "(-4, 3)", "wrong_answer", "wrong_answer", "wrong_answer"),  # a tuple is always ordered
    ],
)
def test_a_reordered_solution_list_under_each_policy(
    reference: str, boxed: str, meaning: str | None, any_order: str | None, as_given: str | None
) -> None:
    assert reason_for(reference, boxed) == meaning
    assert reason_for(reference, boxed, list_order="any") == any_order
    assert reason_for(reference, boxed, list_order="as_given") == as_given


def test_unknown_policy_values_fail_when_the_check_is_built() -> None:
    for setting in ("unboxed_answer", "unsimplified_fraction", "list_order"):
        with pytest.raises(ValueError, match=setting):
            MathVerify(**{setting: "sometimes"})  # type: ignore[arg-type]
