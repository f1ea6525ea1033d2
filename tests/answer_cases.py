"""What the answer-form tests share: math_verify's reason for an answer, boxed or as written."""

from cotfactory.filters.checks import Sample
from cotfactory.filters.correctness import MathVerify


def reason_for(reference: str, answer: str, problem: str = "p", *, box: bool = True, **settings: object) -> str | None:
    """math_verify's reason (None: accepted) for `answer` against `reference`, under these settings."""
    text = f"So the answer is $\\boxed{{{answer}}}$." if box else answer
    check = MathVerify(**settings)  # type: ignore[arg-type]
    return check(Sample(problem, text, "", text, "tagged", reference=reference)).reason
