"""R1-style answers a test server gives to five example problems: correct, wrong, truncated, mixed-language and
looping, with the reason the default checks must give each."""

from typing import Any

LOOP = (
    "Wait, let me reconsider the perimeter of the square once more. The side is 5, so the perimeter is 4 times 5.\n\n"
)

# problem -> (reference, expected reject reason or None, reasoning, answer, finish_reason)
CASES: dict[str, tuple[str, str | None, str, str, str]] = {
    "Solve for $x$: $3x - 7 = 11$.": (
        "6",
        None,
        "We need 3x - 7 = 11. Adding 7 to both sides gives 3x = 18, so x = 6. Let me double check: 3 times 6 is "
        "18, and 18 minus 7 is 11. Good.",
        "Adding 7 and dividing by 3 gives $x = \\boxed{6}$.",
        "stop",
    ),
    "What is the sum of the interior angles of a hexagon, in degrees?": (
        "720",
        "wrong_answer",
        "A hexagon has 6 sides. Each interior angle of a regular hexagon is 120 degrees, so the sum is 6 times 100, "
        "which is 600. That seems right.",
        "The sum of the interior angles is $\\boxed{600}$ degrees.",
        "stop",
    ),
    "A train travels 120 km in 1.5 hours. What is its average speed in km/h?": (
        "80",
        "truncated",
        "The speed is distance over time: 120 km divided by 1.5 hours. 120 divided by 1.5 is 80.",
        "The average speed is 120 / 1.5 = ",
        "length",
    ),
    "What is the area of a rectangle with sides 3 and 7?": (
        "21",
        "language_mixed",
        "The rectangle has sides 3 and 7, so the area is length times width. 所以面积是二十一 and we check the "
        "product again: 3 times 7 is 21.",
        "The area is $\\boxed{21}$.",
        "stop",
    ),
    "What is the perimeter of a square with side 5?": (
        "20",
        "repetition",
        "The side of the square is 5. " + LOOP * 30,
        "The perimeter is $\\boxed{20}$.",
        "stop",
    ),
}


def problem_of(body: dict[str, Any]) -> str:
    user = body["messages"][-1]["content"]
    return next(problem for problem in CASES if user.startswith(problem))


def r1_style(body: dict[str, Any], index: int) -> dict[str, Any]:
    """The answer to the problem in the request; the attempt number keeps the n samples distinct."""
    _, _, reasoning, answer, finish_reason = CASES[problem_of(body)]
    attempt = body.get("seed", 0) + index
    content = f"<think>\nAttempt {attempt}. {reasoning}\n</think>\n\n{answer}"
    return {"role": "assistant", "content": content, "finish_reason": finish_reason}


def prompt_lines() -> str:
    import json

    return "".join(json.dumps({"problem": p, "answer": case[0]}) + "\n" for p, case in CASES.items())
