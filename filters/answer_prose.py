"""Prose inside a final answer, made the list or value a grader reads:

- a label before the answer, in the box or out of it: `Answer: 42`, `The final answer is 42`,
  `\\text{Answer: }42`, `\\textbf{Final Answer:} 42`;
- words and marks joining the items of a list: `and`, `or`, `&` (`\\&`), also as `\\text{ and }`, with an
  Oxford comma (`2, 3, and 5`): the items separated by commas (`;` math-verify reads itself);
- values named by variables (`x = 2 and y = 3`) against a tuple: in the order the problem names the variables
  (`the ordered pair $(x, y)$`), else in the order written.
"""

import re

_LABEL = re.compile(
    r"^\s*(?:\\(?:text|textbf|textit|mathrm|mathbf)\s*\{\s*)?(?:\*\*)?\s*"
    r"(?:the\s+)?(?:final\s+)?(?:answer\s*(?:is\b\s*:?|:)|(?:result|solution)\s+is\b\s*:?)"
    r"\s*(?:\*\*)?\s*(?:\}\s*)?(?::\s*)?",
    re.IGNORECASE,
)
# `;` is left to math-verify, which reads it between solutions (`p=5,q=2;p=7,q=2` is two pairs).
_JOINER = re.compile(
    r"\s*,?\s*(?:\\(?:text|mathrm)\s*\{\s*(?:and|or)\s*\}|(?<![\\a-zA-Z])(?:and|or)(?![a-zA-Z])|\\&)\s*"
)
_QUAD = re.compile(r"\\q?quad\b")
_NAMED = re.compile(r"^\s*([a-zA-Z](?:_\{?\w+\}?)?)\s*=\s*([^=]+?)\s*$")
_NAMED_TUPLE = re.compile(r"\(\s*([a-zA-Z](?:_\{?\w+\}?)?(?:\s*,\s*[a-zA-Z](?:_\{?\w+\}?)?)+)\s*\)")


def without_label(text: str) -> str:
    """The answer after a leading `Answer:` or `The answer is` label; the text itself when it has none."""
    found = _LABEL.match(text)
    if not found or found.end() == len(text.strip()):
        return text
    rest = text[found.end() :]
    if found.group().count("{") > found.group().count("}"):  # `\text{Answer: 42}`: the label's group ends later
        rest = rest.replace("}", "", 1)
    return rest.strip()


def _depth_zero(text: str, start: int) -> bool:
    depth = 0
    for character in text[:start]:
        depth += character in "([{"
        depth -= character in ")]}"
    return depth == 0


def joined_by_commas(text: str) -> str:
    """`2 and 3`, `2; 3`, `2, 3, and 5` as `2, 3` and `2, 3, 5`: joiners outside brackets become commas."""
    if not ("&" in text or "and" in text or "or" in text):
        return text
    if "\\begin" in text:  # `&` and `\\` of an array or cases are its own structure
        return text
    pieces, last = [], 0
    for found in _JOINER.finditer(text):
        if _depth_zero(text, found.start()):
            pieces.append(text[last : found.start()])
            last = found.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    items = [_QUAD.sub(" ", piece).strip().strip(",").strip() for piece in pieces]
    return ", ".join(item for item in items if item)


def named_values(parts: list[str], problem: str) -> list[str] | None:
    """The values of `x = 2, y = 3` for a tuple: in the order the problem names the variables (`(x, y)`), else as
    written; None unless every part names one distinct variable."""
    named = [_NAMED.match(part) for part in parts]
    if not all(named):
        return None
    values = {found.group(1): found.group(2) for found in named if found}
    if len(values) != len(parts):
        return None
    for found in _NAMED_TUPLE.finditer(problem):
        order = [name.strip() for name in found.group(1).split(",")]
        if sorted(order) == sorted(values):
            return [values[name] for name in order]
    return list(values.values())
