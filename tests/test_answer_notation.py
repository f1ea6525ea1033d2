"""Answer notations a grader reads as one value: LaTeX thousands separators, degrees and primes, and math typed
as plain text or code. Each class with cases that must match and near misses that must stay rejected."""

import pytest
from answer_cases import reason_for


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("1000000", "1\\,000\\,000", None),  # thin spaces
        ("10000", "10{,}000", None),  # a braced comma
        ("12345", "12\\ 345", None),  # a control space
        ("1234567", "1~234~567", None),  # ties
        ("5000", "5,\\!000", None),  # a comma with a negative thin space
        ("1234.5", "1{,}234.5", None),
        ("10{,}000", "10000", None),  # in the reference too
        ("2000x", "2\\,000x", None),  # inside an expression
        ("-1000000", "-1{,}000{,}000", None),
        ("12", "1{,}2", "wrong_answer"),  # a decimal comma, not a thousands group
        ("1000", "1\\,00", "wrong_answer"),  # a group of two is no thousands group
        ("123456", "1\\,234\\,56", "wrong_answer"),
        ("1234", "12\\,34", "wrong_answer"),
        ("10000", "10{,}0000", "wrong_answer"),
        ("100000", "10{,}000", "wrong_answer"),
    ],
)
def test_latex_thousands_separators_only_between_groups_of_3(reference: str, boxed: str, reason: str | None) -> None:
    assert reason_for(reference, boxed) == reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("45^\\circ", "45°", None),
        ("45", "45\\degree", None),
        ("45", "45^{\\circ}", None),
        ("45", "45 \\text{ degrees}", None),
        ("45^\\circ", "45\\text{°}", None),
        ("45°", "45", None),
        ("180^\\circ - \\theta", "180 - \\theta", None),  # inside an expression
        ("30.25^\\circ", "30^\\circ 15'", None),  # minutes
        ("10.51^\\circ", "10^\\circ 30' 36''", None),  # and seconds
        ("30°15'", "30^\\circ15'", None),
        ("45", "46°", "wrong_answer"),
        ("30.15^\\circ", "30^\\circ 15'", "wrong_answer"),  # 15 minutes are a quarter of a degree
        ("180^\\circ - \\theta", "180 + \\theta", "wrong_answer"),
        ("f'(x) = 2x", "f'(x) = 2x", None),  # a prime after a letter is a derivative, left alone
        ("2x", "3x", "wrong_answer"),
    ],
)
def test_degrees_minutes_and_seconds_are_one_unit(reference: str, boxed: str, reason: str | None) -> None:
    assert reason_for(reference, boxed) == reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("\\sqrt{3}", "sqrt(3)", None),
        ("2^{1/4}", "2**(1/4)", None),
        ("2^{\\frac14}", "2^(1/4)", None),
        ("\\pi", "pi", None),
        ("2\\pi", "2pi", None),
        ("x^2 + 1", "x**2 + 1", None),
        ("e^{2}", "exp(2)", None),
        ("\\ln 2", "log(2)", None),
        ("3\\sqrt{2}", "3sqrt(2)", None),
        ("\\frac{\\sqrt{3}}{2}", "sqrt(3)/2", None),
        ("6x^2", "6*x^2", None),
        ("2x + 1", "2x+1", None),
        ("\\frac{1}{2}\\sqrt{x}", "sqrt(x)/2", None),
        ("\\sqrt{3}", "sqrt(2)", "wrong_answer"),
        ("2^{1/4}", "2**(1/3)", "wrong_answer"),
        ("\\pi", "pi/2", "wrong_answer"),
        ("3\\sqrt{2}", "2sqrt(3)", "wrong_answer"),
        ("e^2", "exp(3)", "wrong_answer"),
        ("x^2 + 1", "x**2 - 1", "wrong_answer"),
        ("2^{1/4}", "2^1/4", "wrong_answer"),  # without parentheses it is 2/4, as sympy reads it
    ],
)
def test_plain_text_and_programming_math_as_sympy_reads_it(reference: str, boxed: str, reason: str | None) -> None:
    assert reason_for(reference, boxed) == reason
