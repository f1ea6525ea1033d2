"""A streamed chat completion as it arrives: server-sent events cut into chat completion chunks, each checked for
the shape the OpenAI API gives it, their text gathered as the store will hold it. Anything else (an event that is
no JSON object, a field of the wrong type, a server's error event or its own end of the sequence) is `Dropped`:
the attempt failed, and is retried as a dropped connection is."""

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from cotfactory.samplers.base import Completion
from cotfactory.samplers.http_retry import SERVER_ENDED, token_count
from cotfactory.storage.text import storable

_HIGH_SURROGATES = ("\ud800", "\udbff")


@dataclass
class Streamed:
    """What one stream brought: the text, the server's separate reasoning, how it ended and its tokens; and the
    tokens of earlier attempts at the same sample that broke off (generated, then lost)."""

    text_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int = 0
    counted_by_server: bool = False
    retried_tokens: int = 0
    whole: bool = False  # answered whole, not streamed
    # a high surrogate that ended a delta: the low one that completes it may come in the next event
    carried: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    def restart(self) -> None:
        """A new attempt at the sample: what the last one generated counts as spent, the rest starts again."""
        spent = self.retried_tokens + self.completion_tokens
        self.__init__()  # type: ignore[misc]
        self.retried_tokens = spent

    def piece(self, key: str, value: Any) -> str:
        """A delta's text as the store will hold it (lone surrogates escaped), a surrogate pair split between two
        events joined again."""
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise Dropped(f"a malformed event: {key} is {type(value).__name__}, not text")
        if (high := self.carried.pop(key, "")) and value and "\udc00" <= value[0] <= "\udfff":
            value = chr(0x10000 + ((ord(high) - 0xD800) << 10) + (ord(value[0]) - 0xDC00)) + value[1:]
        elif high:
            value = high + value
        if value and _HIGH_SURROGATES[0] <= value[-1] <= _HIGH_SURROGATES[1]:
            self.carried[key], value = value[-1], value[:-1]
        return storable(value)

    def take_whole(self, answer: dict[str, Any]) -> None:
        """A whole answer (checked by `whole_answer`) of a server that did not stream: the sample as it ended."""
        usage = answer.get("usage") or {}
        choice = min(answer["choices"], key=lambda choice: choice.get("index", 0))
        message = choice.get("message") or {}
        self.text_parts = [storable(message.get("content") or "")]
        self.reasoning_parts = [storable(message.get("reasoning_content") or message.get("reasoning") or "")]
        self.finish_reason = choice.get("finish_reason")
        self.prompt_tokens = token_count(usage.get("prompt_tokens"))
        self.completion_tokens = token_count(usage.get("completion_tokens")) or 0
        self.counted_by_server = usage.get("completion_tokens") is not None
        self.whole = True

    def completion(self, seed: int, opened_by_template: bool) -> Completion:
        """The sample as far as it got."""
        return Completion(
            text=self.text,
            reasoning=self.reasoning or None,
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens,
            # a whole answer without usage has no count; a stream without it, one token a chunk
            completion_tokens=None if self.whole and not self.counted_by_server else self.completion_tokens,
            seed=seed,
            opened_by_template=opened_by_template,
            retried_tokens=self.retried_tokens,
        )

    def cut(self, text_chars: int, reasoning_chars: int, finish_reason: str) -> None:
        """The sample stopped after its first `text_chars` and `reasoning_chars`: what arrived past them is no
        part of it (its tokens were generated all the same)."""
        self.text_parts = [self.text[:text_chars]]
        self.reasoning_parts = [self.reasoning[:reasoning_chars]]
        self.carried.clear()
        self.finish_reason = finish_reason

    def flush(self) -> None:
        """The stream ended: a high surrogate still carried is a lone one, kept escaped."""
        if tail := self.carried.pop("content", ""):
            self.text_parts.append(storable(tail))
        if tail := self.carried.pop("reasoning", ""):
            self.reasoning_parts.append(storable(tail))


class Dropped(Exception):
    """The stream broke off before its end (the connection dropped, the server sent an error or a malformed event,
    or ended the sequence itself)."""


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Dropped(f"a malformed event: {what} is {type(value).__name__}, not an object")
    return value


def take_chunk(streamed: Streamed, event: Any) -> tuple[str, str]:
    """Add one event's chunk to `streamed`; the text and the reasoning it brought. A stream's events arrive at the
    server's token rate: the usual shape (one choice, a delta of plain ASCII content, whole token counts) is
    taken at once, anything else checked field by field."""
    if (
        type(event) is dict
        and "error" not in event
        and type(choices := event.get("choices")) is list
        and len(choices) == 1
        and type(choice := choices[0]) is dict
        and type(delta := choice.get("delta")) is dict
        and type(text := delta.get("content")) is str
        and text.isascii()
        and not (delta.get("reasoning_content") or delta.get("reasoning"))
        and choice.get("finish_reason") is None
        and not streamed.carried
        and _plain_usage(event.get("usage"))
    ):
        if usage := event.get("usage"):
            if (prompt_tokens := usage.get("prompt_tokens")) is not None:
                streamed.prompt_tokens = prompt_tokens
            if (tokens := usage.get("completion_tokens")) is not None:
                streamed.completion_tokens, streamed.counted_by_server = tokens, True
        if text:
            if not streamed.counted_by_server:
                streamed.completion_tokens += 1
            streamed.text_parts.append(text)
        return text, ""
    return _take_checked(streamed, event)


def _plain_usage(usage: Any) -> bool:
    """No usage, or one whose counts are whole numbers in range."""
    if usage is None:
        return True
    if type(usage) is not dict:
        return False
    return all(
        (count := usage.get(key)) is None or (type(count) is int and 0 <= count < 2**31)
        for key in ("prompt_tokens", "completion_tokens")
    )


def _take_checked(streamed: Streamed, event: Any) -> tuple[str, str]:
    chunk = _mapping(event, "the event")
    if (error := chunk.get("error")) is not None:
        raise Dropped(f"server error in the stream: {str(error)[:300]}")
    if usage := _mapping(chunk.get("usage"), "usage"):
        try:
            prompt_tokens = token_count(usage.get("prompt_tokens"))
            tokens = token_count(usage.get("completion_tokens"))
        except ValueError as problem:
            raise Dropped(f"a malformed event: usage has {problem}") from problem
        streamed.prompt_tokens = prompt_tokens if prompt_tokens is not None else streamed.prompt_tokens
        if tokens is not None:
            streamed.completion_tokens, streamed.counted_by_server = tokens, True
    choices = chunk.get("choices") or []
    if not isinstance(choices, list):
        raise Dropped(f"a malformed event: choices is {type(choices).__name__}, not a list")
    text = reasoning = ""
    for choice in choices:
        choice = _mapping(choice, "a choice")
        delta = _mapping(choice.get("delta"), "delta")
        # escaped as the store will hold it (lone surrogates), so the judge reads the text that is stored
        text += streamed.piece("content", delta.get("content"))
        reasoning += streamed.piece("reasoning", delta.get("reasoning_content") or delta.get("reasoning"))
        finish = choice.get("finish_reason")
        if finish is not None and not isinstance(finish, str):
            raise Dropped(f"a malformed event: finish_reason is {type(finish).__name__}")
        if finish in SERVER_ENDED:
            raise Dropped(f"the server ended the sequence itself (finish reason {finish!r})")
        streamed.finish_reason = finish or streamed.finish_reason
    if (text or reasoning) and not streamed.counted_by_server:
        streamed.completion_tokens += 1  # one chunk, one token: what vLLM sends without usage stats
    if text:
        streamed.text_parts.append(text)
    if reasoning:
        streamed.reasoning_parts.append(reasoning)
    return text, reasoning


class Events:
    """Server-sent events from a stream's lines: the data lines of one event are joined (most servers send each
    event on one line, taken at once), comments and other fields skipped."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, line: str) -> tuple[bool, Any]:
        """(True, the event or `DONE`) when `line` completes one; (False, None) otherwise."""
        if not line:  # the blank line that ends an event
            return self._dispatch()
        if not line.startswith("data:"):
            return False, None  # comments (keep-alives), event names, ids
        data = line[5:].removeprefix(" ")
        if not self.lines:
            if data.strip() == "[DONE]":
                return True, DONE
            try:
                return True, _loads(data)
            except json.JSONDecodeError:
                pass  # the first line of an event written over several
        self.lines.append(data)
        return False, None

    def _dispatch(self) -> tuple[bool, Any]:
        if not self.lines:
            return False, None
        data, self.lines = "\n".join(self.lines), []
        try:
            return True, _loads(data)
        except json.JSONDecodeError as error:
            raise Dropped(f"an event that is not JSON ({error}): {data[:200]!r}") from error


DONE = object()


def _loads(data: str) -> Any:
    """JSON, by orjson (a stream's hot path: several times faster); what it refuses (a lone surrogate's escape,
    hostile text that must still pass) by the standard library."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
