"""The program an answer ends with: the last fenced code block of the wanted language in the answer part."""

import re

_OPENING = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<tag>[^\s`]*)[^`]*$")

LANGUAGE_TAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"python", "python3", "py", "py3"}),
}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every closed fenced block of `text` as (lowercased tag, code), in order. An unclosed fence (a truncated
    answer) is no block."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _OPENING.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence = opening.group("fence")
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((i for i in range(index + 1, len(lines)) if closing.match(lines[i])), None)
        if end is None:
            break
        blocks.append((opening.group("tag").lower(), "\n".join(lines[index + 1 : end]) + "\n"))
        index = end + 1
    return blocks


def last_program(answer: str, language: str = "python") -> str | None:
    """The last block tagged as `language` or untagged; None when the answer has none."""
    tags = LANGUAGE_TAGS.get(language, frozenset({language}))
    programs = [code for tag, code in fenced_blocks(answer) if (not tag or tag in tags) and code.strip()]
    return programs[-1] if programs else None
