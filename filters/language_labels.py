"""Formatting labels in an answer (`Final Answer:`, `**Answer:**`, `### Solution`): short headings that many
models write in English whatever the answer's language. Under the `answer_labels = "allow"` policy of the
language check they are not words of the answer; under `reject` (the default, as R1's rule on mixed
languages) they count like any other words.

A label is at the start of a line: up to `MAX_LABEL_WORDS` words ending in a colon (`:` or `：`), perhaps bold,
or a whole line that is a Markdown heading or bold text of that many words. A sentence (`The final answer is
5.`) is no label.
"""

import re

MAX_LABEL_WORDS = 3
_LABEL = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*([^\W\d_][^\n:：*_$\\]{0,40}?)[ \t]*(?:\*\*|__)?[ \t]*[:：]"
    r"(?:[ \t]*(?:\*\*|__))?",
    re.MULTILINE,
)
_HEADING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]+([^\n]{1,40}?)|(?:\*\*|__)([^\n*_]{1,40})(?:\*\*|__))[ \t]*$", re.MULTILINE
)


def _short(label: str) -> bool:
    return 0 < len(label.split()) <= MAX_LABEL_WORDS


def without_labels(answer: str) -> str:
    """The answer with its formatting labels blanked (each replaced by a space)."""

    def blank(found: re.Match[str]) -> str:
        label = next((group for group in found.groups() if group), "")
        return " " if _short(label) else found.group()

    return _LABEL.sub(blank, _HEADING.sub(blank, answer))
