"""Hostile final answers through the answer forms and `math_verify`: each gives a verdict, none an exception,
and none reaches Python through the plain-text reader."""

import pytest

from cotfactory.filters.answer_plain import plain_value
from cotfactory.filters.checks import Sample
from cotfactory.filters.correctness import MathVerify

HOSTILE = [
    "1" + " " * 20000 + "x",
    "\\$1" + " " * 20000 + "x",
    "1" + "\\,000" * 5000 + "5",
    "1°" + " 1'" * 5000,
    "1 and " * 5000,
    "Answer: " * 3000,
    "\x00\ud800\udfff" * 500,
    "(" * 3000 + ")" * 3000,
    "1\\text{" + "a" * 20000 + "}",
    "9**9**9**9**9",
    "12 cm" + "^2" * 3000,
]


@pytest.mark.parametrize("answer", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_answers_get_a_verdict(answer: str) -> None:
    for reference, boxed in (("1", answer), (answer, "1")):
        text = f"$\\boxed{{{boxed}}}$"
        verdict = MathVerify(timeout_s=1)(Sample("p", text, "", text, "tagged", reference=reference))
        assert verdict.reason in (None, "wrong_answer", "no_answer", "unparseable_reference", "verify_timeout")


@pytest.mark.parametrize(
    "text",
    ["__import__('os')", "().__class__", "x.real", "lambda x", "open(1)", "exec(1)", "eval(1)", "getattr(x, 1)"],
)
def test_the_plain_reader_reads_no_python(text: str) -> None:
    value = plain_value(text)
    assert value is None or {type(arg).__module__.split(".")[0] for arg in value.atoms()} == {"sympy"}
