"""Splitting completions into reasoning and answer."""

import pytest

from cotfactory.filters.parse import parse_completion

CASES = [
    # (text, server reasoning, template opened <think>, reasoning, answer, format, extra tags)
    ("<think>a</think>b", None, False, "a", "b", "tagged", 0),
    ("<think>\nstep 1\n</think>\n\nThe answer is 4.", None, False, "step 1", "The answer is 4.", "tagged", 0),
    ("  \n<think>a</think>b", None, False, "a", "b", "tagged", 0),
    ("<THINK>a</Think>b", None, False, "a", "b", "tagged", 0),
    ("Okay. <think>a</think>b", None, False, "Okay. a", "b", "tagged", 0),
    ("step 1\n</think>\n\n42", None, True, "step 1", "42", "template_opened", 0),
    ("step 1</think>42", None, False, "step 1", "42", "template_opened", 0),
    ("42", "step 1", False, "step 1", "42", "server_split", 0),
    ("<think>still going", None, False, "still going", "", "unclosed", 0),
    ("still going", None, True, "still going", "", "unclosed", 0),
    ("The answer is 4.", None, False, "", "The answer is 4.", "untagged", 0),
    ("<think>a<think>b</think>c</think>d", None, False, "a<think>b", "c</think>d", "tagged", 2),
    ("<think>a</think>b<think>c</think>d", None, False, "a", "b<think>c</think>d", "tagged", 2),
    ("a</think>b</think>c", None, True, "a", "b</think>c", "template_opened", 1),
    ("<think></think>4", None, False, "", "4", "tagged", 0),
    ("x</think>", "r", False, "r", "x</think>", "server_split", 1),
]


@pytest.mark.parametrize(("text", "server", "opened", "reasoning", "answer", "think", "extra"), CASES)
def test_parse(
    text: str, server: str | None, opened: bool, reasoning: str, answer: str, think: str, extra: int
) -> None:
    parsed = parse_completion(text, reasoning=server, opened_by_template=opened)
    assert (parsed.reasoning, parsed.answer, parsed.think, parsed.extra_tags) == (reasoning, answer, think, extra)
    assert parsed.closed == (think in ("tagged", "template_opened", "server_split"))
