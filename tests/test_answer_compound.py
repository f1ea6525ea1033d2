"""Compound answers as a grader reads them: approximations inside tuples, sets, intervals and systems under the
single-number policy (both ways), prose joining the items and labels inside the box, and equations against
values. Each class with cases that must match and near misses that must stay rejected."""

import pytest
from answer_cases import reason_for


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("(\\frac13, \\sqrt2)", "(0.333, 1.414)", None),
        ("(\\frac13, \\sqrt2)", "(0.334, 1.414)", "wrong_answer"),
        ("(\\frac13, \\sqrt2)", "(1.414, 0.333)", "wrong_answer"),  # a tuple keeps its order
        ("\\{\\frac{1}{3}, \\sqrt{2}\\}", "\\{1.414, 0.333\\}", None),  # a set does not
        ("\\sqrt{2}, -\\sqrt{2}", "1.414, -1.414", None),
        ("\\sqrt{2}, -\\sqrt{2}", "1.414, 1.414", "wrong_answer"),
        ("\\sqrt{2}, -\\sqrt{2}", "1.414", "wrong_answer"),
        ("[\\frac13, \\sqrt2)", "[0.333, 1.414)", None),
        ("[\\frac13, \\sqrt2)", "(0.333, 1.414)", "wrong_answer"),  # the bracket differs
        ("\\begin{cases} x = \\frac13 \\\\ y = \\sqrt2 \\end{cases}", "x = 0.333, y = 1.414", None),
        ("\\begin{cases} x = \\frac13 \\\\ y = \\sqrt2 \\end{cases}", "x = 1.414, y = 0.333", "wrong_answer"),
        ("0.333", "\\frac13", None),  # a decimal reference, an exact prediction
        ("1.414", "\\sqrt{2}", None),
        ("(0.333, 1.414)", "(\\frac13, \\sqrt2)", None),
        ("0.334", "\\frac13", "wrong_answer"),
        ("0.33", "\\frac13", "wrong_answer"),  # two significant digits are too few
        ("0.25", "\\frac14", None),  # exact anyway
        ("0.2", "\\frac14", "wrong_answer"),
    ],
)
def test_approximations_inside_compound_answers(reference: str, boxed: str, reason: str | None) -> None:
    assert reason_for(reference, boxed) == reason


def test_a_relative_tolerance_is_a_setting() -> None:
    assert reason_for("\\sqrt{2}", "1.4142", approximation_tolerance=0.0) is None  # rounded: the default
    assert reason_for("\\sqrt{2}", "1.4143", approximation_tolerance=0.0) == "wrong_answer"
    assert reason_for("\\sqrt{2}", "1.4143", approximation_tolerance=1e-4) is None
    assert reason_for("\\sqrt{2}", "1.4160", approximation_tolerance=1e-4) == "wrong_answer"
    assert reason_for("(\\sqrt{2}, 1)", "(1.4143, 1)", approximation_tolerance=1e-4) is None
    assert reason_for("\\sqrt{2}", "1.5", approximation_tolerance=1e-1) == "wrong_answer"  # too few digits


@pytest.mark.parametrize(
    ("reference", "boxed", "problem", "reason"),
    [
        ("2, 3", "2 and 3", "p", None),
        ("2, 3", "2 or 3", "p", None),
        ("2, 3", "2 \\text{ or } 3", "p", None),
        ("2, 3", "2; 3", "p", None),
        ("2, 3", "2 \\& 3", "p", None),
        ("2, 3, 5", "2, 3, and 5", "p", None),
        ("2, 3", "2 and 4", "p", "wrong_answer"),
        ("12", "1 and 2", "p", "wrong_answer"),
        ("(2, 3)", "x = 2 \\text{ and } y = 3", "Find $x$ and $y$.", None),
        ("(2, 3)", "x = 2, y = 3", "p", None),
        ("(2, 3)", "y = 3, x = 2", "Find the ordered pair $(x, y)$.", None),
        ("(2, 3)", "x = 3 \\text{ and } y = 2", "Find $x$ and $y$.", "wrong_answer"),
        ("(2, 3)", "y = 2, x = 3", "Find the ordered pair $(x, y)$.", "wrong_answer"),
        ("42", "Answer: 42", "p", None),
        ("42", "\\text{The answer is } 42", "p", None),
        ("42", "\\text{Answer: }42", "p", None),
        ("42", "\\textbf{Final Answer:} 42", "p", None),
        ("42", "Answer: 43", "p", "wrong_answer"),
        ("42", "\\text{Answer: } 42 \\text{ or } 43", "p", "wrong_answer"),
    ],
)
def test_prose_inside_answers(reference: str, boxed: str, problem: str, reason: str | None) -> None:
    assert reason_for(reference, boxed, problem) == reason


@pytest.mark.parametrize(
    ("reference", "boxed", "reason"),
    [
        ("2", "x = 2", None),
        ("x = 2", "2", None),
        ("x = 2", "2 = x", None),
        ("2", "2 = x", None),
        ("3x + 1", "y = 3x + 1", None),
        ("y = 3x + 1", "3x + 1", None),
        ("y = 3x + 1", "f(x) = 3x + 1", None),
        ("2", "x = 3", "wrong_answer"),
        ("x = 2", "x^2 = 4", "wrong_answer"),  # an equation to solve is no value
        ("3x + 1", "y = 3x + 2", "wrong_answer"),
        ("x = 1 \\text{ or } x = -1", "\\pm 1", None),
        ("\\pm 1", "x = 1 \\text{ or } x = -1", None),
        ("\\{-1, 1\\}", "x = 1 \\text{ or } x = -1", None),
        ("x = \\pm 1", "-1, 1", None),
        ("x = 1, x = -1", "\\{-1, 1\\}", None),
        ("\\pm 2", "2, -2", None),
        ("1 \\pm \\sqrt{2}", "1 + \\sqrt{2}, 1 - \\sqrt{2}", None),
        ("\\pm 1", "1", "wrong_answer"),
        ("\\pm 1", "x = 1 \\text{ or } x = 2", "wrong_answer"),
        ("x = 1 \\text{ or } x = -1", "x = 1", "wrong_answer"),
        ("1 \\pm \\sqrt{2}", "1 + \\sqrt{2}", "wrong_answer"),
    ],
)
def test_equations_against_values(reference: str, boxed: str, reason: str | None) -> None:
    assert reason_for(reference, boxed) == reason
