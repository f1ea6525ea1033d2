"""The program an answer ends with: the last fenced code block of the wanted language in the answer part.

Fences are read by a line scanner in time linear in the answer's length, whatever it holds (a pattern with two
quantifiers over the same characters, such as spaces before and after a fence, takes quadratic time)."""

import re

# The info word after an opening fence: up to the first whitespace (a single quantifier: linear).
_TAG = re.compile(r"[^\s`]*")
FENCE_CHARACTERS = "`~"

LANGUAGE_TAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"python", "python3", "py", "py3"}),
}


def _opening(line: str) -> tuple[str, str] | None:
    """(fence, tag) of a line that opens a fenced block: spaces or tabs, three or more of one fence
    character, then an info string without backticks."""
    stripped = line.lstrip(" \t")
    if not stripped or stripped[0] not in FENCE_CHARACTERS:
        return None
    rest = stripped.lstrip(stripped[0])
    fence = stripped[: len(stripped) - len(rest)]
    if len(fence) < 3 or "`" in rest:
        return None
    tag = _TAG.match(rest.lstrip(" \t"))
    return fence, tag.group() if tag else ""


def _closes(line: str, fence: str) -> bool:
    """Whether the line is a closing fence: as many or more of the opening's character, and only spaces or
    tabs around them."""
    stripped = line.strip(" \t")
    return len(stripped) >= len(fence) and not stripped.strip(fence[0])


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every closed fenced block of `text` as (lowercased tag, code), in order. An unclosed fence (a truncated
    answer) is no block."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _opening(lines[index])
        if opening is None:
            index += 1
            continue
        fence, tag = opening
        end = next((i for i in range(index + 1, len(lines)) if _closes(lines[i], fence)), None)
        if end is None:
            break
        blocks.append((tag.lower(), "\n".join(lines[index + 1 : end]) + "\n"))
        index = end + 1
    return blocks


def last_program(answer: str, language: str = "python") -> str | None:
    """The last block tagged as `language` or untagged; None when the answer has none."""
    tags = LANGUAGE_TAGS.get(language, frozenset({language}))
    programs = [code for tag, code in fenced_blocks(answer) if (not tag or tag in tags) and code.strip()]
    return programs[-1] if programs else None
