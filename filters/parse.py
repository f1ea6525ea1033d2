"""Splitting a completion into reasoning and answer around R1-style `<think>` tags, and the final answers
(`\\boxed{...}`) a text holds."""

import re
from dataclasses import dataclass
from typing import Literal

# How the reasoning was delimited:
#   tagged           <think>reasoning</think>answer
#   template_opened  reasoning</think>answer, the chat template put <think> into the prompt (R1-distill)
#   server_split     the server returned the reasoning apart (reasoning_content) and the answer as content
#   unclosed         <think> opened (by the text or the template) and never closed: truncated or rambling
#   untagged         no tags at all (a non-reasoning model): everything is answer
ThinkFormat = Literal["tagged", "template_opened", "server_split", "unclosed", "untagged"]
CLOSED_FORMATS: frozenset[str] = frozenset({"tagged", "template_opened", "server_split"})

_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


@dataclass(frozen=True, slots=True)
class ParsedCompletion:
    """Reasoning and answer of one completion, with how they were delimited and any stray tags."""

    reasoning: str
    answer: str
    think: ThinkFormat
    extra_tags: int = 0  # think tags beyond the one opening and one closing (nested or repeated)

    @property
    def closed(self) -> bool:
        """True when the reasoning ended with a closing tag (or came apart from the server)."""
        return self.think in CLOSED_FORMATS


def _count_tags(text: str) -> int:
    return len(_OPEN.findall(text)) + len(_CLOSE.findall(text))


def parse_completion(text: str, *, reasoning: str | None = None, opened_by_template: bool = False) -> ParsedCompletion:
    """Split `text` at the first `</think>`: reasoning before it (without its `<think>`), answer after it.

    `reasoning` is the server's separate reasoning (`reasoning_content`) when it has one; `opened_by_template`
    says the rendered prompt already ended with `<think>`, so a completion without tags is all reasoning.
    """
    if reasoning is not None:
        return ParsedCompletion(
            reasoning.strip(), text.strip(), "server_split", _count_tags(text) + _count_tags(reasoning)
        )
    closing = _CLOSE.search(text)
    if closing is not None:
        before, answer = text[: closing.start()], text[closing.end() :]
        opening = _OPEN.search(before)
        think: ThinkFormat = "template_opened"
        if opening is not None:
            # Text before the opening tag (a stray preamble) still belongs to the reasoning.
            before = before[: opening.start()] + before[opening.end() :]
            think = "tagged"
        return ParsedCompletion(before.strip(), answer.strip(), think, _count_tags(before) + _count_tags(answer))
    opening = _OPEN.search(text)
    if opening is not None:
        body = text[: opening.start()] + text[opening.end() :]
        return ParsedCompletion(body.strip(), "", "unclosed", _count_tags(body))
    if opened_by_template:
        return ParsedCompletion(text.strip(), "", "unclosed")
    return ParsedCompletion("", text.strip(), "untagged")


def trace_of(completion: str, reasoning: str | None) -> str:
    """A stored sample's whole trace, as dedup compares traces: its text, with the reasoning before it when the
    server sent that apart (the stored reasoning is then not what the text's own parse gives)."""
    if not reasoning or reasoning in (
        parse_completion(completion, opened_by_template=o).reasoning for o in (False, True)
    ):
        return completion
    return f"{reasoning}\n\n{completion}"


def _braced(text: str, brace: int) -> str | None:
    depth = 0
    for index in range(brace, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : index]
    return None


def boxed_contents(text: str) -> list[str]:
    """The contents of every `\\boxed{...}` (or `\\fbox{...}`) in `text`, braces balanced, in order."""
    contents = (_braced(text, match.end() - 1) for match in _BOXED.finditer(text))
    return [content.strip() for content in contents if content is not None]


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` in `text`; None if there is none."""
    contents = boxed_contents(text)
    return contents[-1] if contents else None
