"""Answer forms math-verify reads differently from a grader: mixed numbers, amounts and stray markup, and a
single tuple whose order matters. Each class with cases that must match and cases that must stay rejected."""

import pytest

from cotfactory.filters.answer_forms import rewritten
from cotfactory.filters.checks import Sample
from cotfactory.filters.correctness import MathVerify

CHECK = MathVerify()


def verdict(reference: str, boxed: str) -> str | None:
    answer = f"So the answer is $\\boxed{{{boxed}}}$."
    return CHECK(Sample("p", answer, "", answer, "tagged", reference=reference)).reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("\\frac{7}{4}", "1 3/4", None),  # a mixed number
        ("\\frac{7}{4}", "1\\frac{3}{4}", None),
        ("3.5", "3\\tfrac12", None),
        ("-\\frac{9}{4}", "-2\\frac{1}{4}", None),
        ("2\\frac{2}{3}", "\\frac{8}{3}", None),  # in the reference too
        ("\\frac{7}{4}", "1 4/3", "wrong_answer"),  # not proper: no mixed number, and 4/3 is no 7/4
        ("\\frac{7}{4}", "2 3/4", "wrong_answer"),
        ("\\frac{3}{4}", "1\\frac{3}{4}", "wrong_answer"),
    ],
)
def test_mixed_numbers(reference: str, boxed: str, reason: str | None) -> None:
    assert verdict(reference, boxed) == reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("\\$10", "10", None),  # an amount as the reference
        ("10", "\\$10", None),
        ("$25", "25", None),
        ("185\\", "185", None),  # a stray trailing backslash
        ("12", "12\\text{ cm}", None),  # a unit after a plain number
        ("\\$10", "11", "wrong_answer"),
        ("185\\", "186", "wrong_answer"),
        ("12", "13\\text{ cm}", "wrong_answer"),
    ],
)
def test_amounts_units_and_stray_markup(reference: str, boxed: str, reason: str | None) -> None:
    assert verdict(reference, boxed) == reason


def test_math_between_dollars_is_not_an_amount() -> None:
    assert rewritten("$10$") == "$10$"
    assert rewritten("\\$10") == "10"


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("(3, -4)", "(3, -4)", None),
        ("(3, -4)", "(3,-4)", None),
        ("(\\frac{1}{2}, 2)", "(0.5, 2)", None),  # elements equal, in order
        ("(3, -4)", "(-4, 3)", "wrong_answer"),  # the same numbers in another order
        ("(1, 2)", "\\{1, 2\\}", "wrong_answer"),  # a set is not an ordered pair (nor an interval)
        ("(10, 4, -2)", "(4, 10, -2)", "wrong_answer"),
        ("(10, 4, -2)", "(10, 4)", "wrong_answer"),
        ("1, 2", "2, 1", None),  # a list of solutions: unordered, as graders read it
        ("(1, 2), (3, 4)", "(3, 4), (1, 2)", None),
    ],
)
def test_a_single_tuple_is_compared_in_order(reference: str, boxed: str, reason: str | None) -> None:
    assert verdict(reference, boxed) == reason


def test_a_number_with_thousands_separators_is_one_number() -> None:
    assert verdict("3,600", "3600") is None
    assert verdict("(3,600)", "(3, 600)") is None  # a tuple of two
