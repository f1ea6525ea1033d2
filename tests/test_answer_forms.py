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


def verdict_for(reference: str, boxed: str, problem: str = "p", **settings: object) -> tuple[str | None, str | None]:
    answer = f"So the answer is $\\boxed{{{boxed}}}$."
    result = MathVerify(**settings)(Sample(problem, answer, "", answer, "tagged", reference=reference))  # type: ignore[arg-type]
    return result.reason, result.detail


@pytest.mark.parametrize(
    ("reference", "boxed", "problem", "reason"),
    [
        # three or more numbers in neither increasing nor decreasing order: the order is the answer
        ("7, -1, 3", "7, -1, 3", "p", None),
        ("7, -1, 3", "-1, 3, 7", "p", "wrong_answer"),
        ("7, -1, 3", "3, -1, 7", "p", "wrong_answer"),
        ("2, \\frac{1}{2}, 5", "2, 0.5, 5", "p", None),
        # sorted lists are solution sets: any order
        ("-3, 1, 6", "6, 1, -3", "p", None),
        ("9, 4, -5", "-5, 4, 9", "p", None),
        ("-3, 1, 6", "6, 1, -2", "p", "wrong_answer"),
        # the problem asks for an order
        ("2, 5", "5, 2", "Find the ordered pair $(m, n)$ of positive integers.", "wrong_answer"),
        ("2, 5", "2, 5", "Find the ordered pair $(m, n)$ of positive integers.", None),
        ("1, 4, 9", "9, 4, 1", "List the squares in increasing order.", "wrong_answer"),
        ("12, 30", "30, 12", "Find the width and length, respectively.", "wrong_answer"),
        ("2, 5", "5, 2", "In order to win, find both roots of the quadratic.", None),  # "in order to" is no order
        ("x = 4, y = -1, z = 2", "z = 2, x = 4, y = -1", "p", None),  # named values: any order
    ],
)
def test_a_bare_list_is_ordered_only_where_its_order_carries_meaning(
    reference: str, boxed: str, problem: str, reason: str | None
) -> None:
    assert verdict_for(reference, boxed, problem)[0] == reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("\\sqrt{3}", "1.732", None),
        ("\\sqrt{3}", "1.7320508", None),
        ("-\\sqrt{3}", "-1.73", None),
        ("25\\pi", "78.54", None),  # rounded
        ("25\\pi", "78.53", None),  # cut
        ("\\frac{2}{7}", "0.2857", None),
        ("\\frac{1}{64}", "0.0156", "wrong_answer"),  # a finite decimal (0.015625): exactly or not at all
        ("\\frac{1}{64}", "0.015625", None),
        ("\\frac{1}{270}", "3.704\\times10^{-3}", None),
        ("\\frac{1}{270}", "3.7037 \\cdot 10^{-3}", None),
        ("\\frac{1}{270}", "3.705\\times10^{-3}", "wrong_answer"),  # neither rounded nor cut
        ("\\sqrt{3}", "1.733", "wrong_answer"),
        ("\\sqrt{3}", "1.7", "wrong_answer"),  # two significant digits are too few
        ("25\\pi", "79", "wrong_answer"),
        ("e^2", "7.389", None),
        ("\\ln 5", "1.609", None),
        ("\\ln 5", "1.61", None),
        ("\\ln 5", "1.62", "wrong_answer"),
        ("\\frac{5}{4}", "1.25", None),  # exact anyway
        ("17", "17.0003", "wrong_answer"),
    ],
)
def test_decimal_approximations_of_closed_forms(reference: str, boxed: str, reason: str | None) -> None:
    assert verdict_for(reference, boxed)[0] == reason


def test_an_accepted_approximation_says_so_in_its_detail() -> None:
    assert verdict_for("\\sqrt{3}", "1.732") == (None, "approximation of \\sqrt{3} to 4 significant digits")
    assert verdict_for("\\frac{5}{4}", "1.25")[1] == "1.25"  # exact: no approximation


def test_exact_answers_only_when_approximations_are_switched_off() -> None:
    assert verdict_for("\\sqrt{3}", "1.732", approximation_digits=0)[0] == "wrong_answer"
    assert verdict_for("\\sqrt{3}", "\\sqrt3", approximation_digits=0)[0] is None
    assert verdict_for("\\sqrt{3}", "1.73", approximation_digits=4)[0] == "wrong_answer"


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("-3 - 4i", "(1-2i)^2", None),  # needs i^2 = -1
        ("3 - 4i", "(1-2i)^2", "wrong_answer"),
        ("5", "(2+i)(2-i)", None),
        ("-1", "i^2", None),
        ("2i", "(1+i)^2", None),
        ("3 + 4i", "(1-2i)^2", "wrong_answer"),
        ("3 - 4i", "3 - 4\\mathrm{i}", None),  # the upright unit
        ("3 - 4i", "3 + 4\\mathrm{i}", "wrong_answer"),
        ("x + i", "x - i", "wrong_answer"),  # i beside another symbol is left to math-verify
        ("\\sin x", "\\cos(90^\\circ - x)", None),  # degrees inside a trigonometric function
        ("\\frac{\\sqrt{3}}{2}", "\\sin 60^\\circ", None),
        ("\\frac{\\sqrt{3}}{2}", "\\cos(60^{\\circ})", "wrong_answer"),
        ("\\cos 2x", "1 - 2\\sin^2 x", None),
        ("\\cos 2x", "1 - \\sin^2 x", "wrong_answer"),
        ("60^\\circ", "60", None),  # an angle alone is untouched
    ],
)
def test_identities_that_need_the_imaginary_unit_or_degrees(reference: str, boxed: str, reason: str | None) -> None:
    assert verdict_for(reference, boxed)[0] == reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("g(t) = 5t - 1", "h = 5t - 1", None),
        ("y = x^2 - 4", "p(x) = (x-2)(x+2)", None),
        ("f(x) = 3x + 1", "g(x) = 3x + 1", None),
        ("f(x) = 3x + 1", "y = 3x + 2", "wrong_answer"),
        ("x = 7", "y = 7", "wrong_answer"),  # two unknowns, not two names of one function
        ("f(x) = 3x + 1", "x = \\frac{f - 1}{3}", "wrong_answer"),
        ("y = 2x", "f(y) = 2y", "wrong_answer"),  # names itself on the right
    ],
)
def test_equations_that_name_one_function_differently(reference: str, boxed: str, reason: str | None) -> None:
    assert verdict_for(reference, boxed)[0] == reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("\\begin{pmatrix} \\frac{3}{4} \\\\ -2 \\end{pmatrix}", "\\begin{pmatrix} 0.75 \\\\ -2 \\end{pmatrix}", None),
        (
            "\\begin{pmatrix} \\frac{3}{4} \\\\ -2 \\end{pmatrix}",
            "\\begin{pmatrix} -2 \\\\ 0.75 \\end{pmatrix}",
            "wrong_answer",
        ),
        ("\\begin{pmatrix} \\frac{3}{4} \\\\ -2 \\end{pmatrix}", "(0.75, -2)", None),  # a vector as a tuple
        ("\\begin{pmatrix} \\frac{3}{4} \\\\ -2 \\end{pmatrix}", "(-2, 0.75)", "wrong_answer"),
        ("\\langle 2, \\frac{1}{3}, 0 \\rangle", "\\langle 2, 0.3333, 0 \\rangle", None),
        ("\\langle 2, \\frac{1}{3}, 0 \\rangle", "\\langle 2, 0, \\frac13 \\rangle", "wrong_answer"),
        (
            "\\begin{bmatrix} 1 & \\frac12 \\\\ 0 & 3 \\end{bmatrix}",
            "\\begin{bmatrix} 1 & 0.5 \\\\ 0 & 3 \\end{bmatrix}",
            None,
        ),
        (
            "\\begin{bmatrix} 1 & \\frac12 \\\\ 0 & 3 \\end{bmatrix}",
            "\\begin{bmatrix} 1 & 0 \\\\ 0.5 & 3 \\end{bmatrix}",
            "wrong_answer",
        ),
        (
            "\\begin{cases} a = 3 \\\\ b = \\frac{5}{2} \\end{cases}",
            "\\begin{cases} b = 2.5 \\\\ a = 3 \\end{cases}",
            None,
        ),
        ("\\begin{cases} a = 3 \\\\ b = \\frac{5}{2} \\end{cases}", "a = 3, b = \\frac{5}{2}", None),
        (
            "\\begin{cases} a = 3 \\\\ b = \\frac{5}{2} \\end{cases}",
            "\\begin{cases} a = 4 \\\\ b = 2.5 \\end{cases}",
            "wrong_answer",
        ),
        (
            "\\begin{cases} a = 3 \\\\ b = \\frac{5}{2} \\end{cases}",
            "\\begin{cases} a = 3 \\end{cases}",
            "wrong_answer",
        ),
        (
            "\\left\\{\\begin{array}{l} u + v = 4 \\\\ u - v = 1 \\end{array}\\right.",
            "\\begin{cases} u - v = 1 \\\\ u + v = 4 \\end{cases}",
            None,
        ),
        (
            "\\left\\{\\begin{array}{l} u + v = 4 \\\\ u - v = 1 \\end{array}\\right.",
            "\\begin{cases} u - v = 2 \\\\ u + v = 4 \\end{cases}",
            "wrong_answer",
        ),
    ],
)
def test_matrices_vectors_and_systems_by_their_entries(reference: str, boxed: str, reason: str | None) -> None:
    assert verdict_for(reference, boxed)[0] == reason
