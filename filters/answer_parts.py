"""Compound answers compared part by part, each part under the rules of a single answer (approximations
included): an ordered reference (tuple, vector, interval, ordered list) in order, a system row by row in any
order, and a set or list of solutions matched element to element in any order."""

from collections.abc import Callable

from cotfactory.filters.answer_elements import ordered_elements, system_pair, unordered_elements
from cotfactory.filters.checks import Verdict, failed, passed

EqualText = Callable[[str, str], bool]
_BRACKETS = frozenset("()[]")
MAX_ELEMENTS = 16  # matching in any order compares every pair: bounded


def _equal_part(gold: str, predicted: str, equal_text: EqualText) -> bool:
    if gold in _BRACKETS or predicted in _BRACKETS:  # an interval's bracket is compared as written
        return gold == predicted
    return equal_text(gold, predicted)


def matched(gold_parts: list[str], predicted_parts: list[str], equal_text: EqualText) -> str | None:
    """None when every gold part has its own equal predicted part, in any order; else the first unmatched."""
    unmatched = list(predicted_parts)
    for part in gold_parts:
        match = next((p for p in unmatched if _equal_part(part, p, equal_text)), None)
        if match is None:
            return part
        unmatched.remove(match)
    return None


def by_parts(gold_text: str, boxed: str, problem: str, equal_text: EqualText, list_order: str) -> Verdict | None:
    """A verdict for an ordered reference or a system; None when the reference is neither (compared whole)."""
    if (rows := system_pair(gold_text, boxed)) is not None:
        gold_rows, predicted_rows = rows
        if len(gold_rows) > MAX_ELEMENTS:
            return None
        if (missing := matched(gold_rows, predicted_rows, equal_text)) is not None:
            return failed("wrong_answer", 0.0, f"no equation equal to {missing[:80]!r}: {boxed[:100]}")
        if len(predicted_rows) != len(gold_rows):
            return failed("wrong_answer", 0.0, f"{len(predicted_rows)} equations for {len(gold_rows)}")
        return passed(1.0, boxed[:200])
    pairs = ordered_elements(gold_text, boxed, problem, list_order)
    if pairs is None:
        return None
    gold_parts, predicted_parts = pairs
    if len(gold_parts) != len(predicted_parts):
        return failed("wrong_answer", 0.0, f"{len(predicted_parts)} elements for {len(gold_parts)}: {boxed[:150]}")
    for gold_part, predicted_part in zip(gold_parts, predicted_parts, strict=True):
        if not _equal_part(gold_part, predicted_part, equal_text):
            return failed("wrong_answer", 0.0, f"element {predicted_part[:80]!r} for {gold_part[:80]!r} in order")
    return passed(1.0, boxed[:200])


def solutions_match(gold_text: str, boxed: str, equal_text: EqualText) -> bool:
    """Whether two sets or lists of solutions match element to element in any order (tried after the whole
    comparison failed, so that approximations of the elements count)."""
    pairs = unordered_elements(gold_text, boxed)
    if pairs is None or len(pairs[0]) > MAX_ELEMENTS:
        return False
    return matched(*pairs, equal_text) is None
