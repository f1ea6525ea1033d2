"""The checker's side of a harness run: cases sent one at a time, each timed on this side's clock, and a report
that must account for exactly the cases sent, in order, before any of it counts.

The harness inside tags its report lines, but the program runs in the same interpreter and can write such
lines too. So a line is accepted only where the conversation expects it (the load stage, then the setup stage
when there is one, then case 0, 1, ...), each case's answer must come within its time limit after it was
sent, carrying the token sent with it (an answer written before the case was read is forged: the program
knew neither its arguments nor its token), and a call's pass is decided by comparing its reported value
here. A report that does not add up (a line out of order, a duplicate from a forked child, a malformed line)
fails the tests.
"""

import itertools
import json
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from cotfactory.filters.harness_cases import HarnessCase
from cotfactory.filters.sandbox.harness import REPORT_DEPTH

# Time an answer may take on top of the case's limit: the harness's own work and the pipe (milliseconds).
GRACE_S = 0.25
KINDS = ("pass", "fail", "error", "timeout", "memory")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class HarnessSession:
    """A conversation (`cotfactory.filters.sandbox.process.Conversation`) with the harness over one program."""

    def __init__(self, cases: Sequence[HarnessCase], setup: str, per_case_s: float, start_up_s: float) -> None:
        self.cases = list(cases)
        self.setup = setup
        self.per_case_s = per_case_s
        self.start_up_s = start_up_s
        self.tag = secrets.token_hex(12)
        self.expected: list[str | int] = ["load", *(["setup"] if setup else []), *range(len(self.cases))]
        self.stage_failure: tuple[str, str, str] | None = None  # (stage, kind, detail)
        self.answers: list[tuple[str, Any]] = []  # (kind, value or detail) per case, in order
        self.problem: str | None = None  # why the report does not add up
        self.late: str | int | None = None  # the stage or case whose answer did not come in time
        self.deadline: float | None = None
        self._buffer = b""
        self._sent = -1  # the last case sent
        self._token = ""  # and its token

    def opening(self) -> bytes:
        self.deadline = time.monotonic() + self.start_up_s + self.per_case_s
        hello = {"tag": self.tag, "time_limit_s": self.per_case_s, "setup": self.setup}
        return (json.dumps(hello) + "\n").encode()

    @property
    def waiting_for(self) -> str | int | None:
        return self.expected[0] if self.expected and not self.finished else None

    @property
    def finished(self) -> bool:
        return self.problem is not None or self.stage_failure is not None or not self.expected

    def timed_out(self) -> None:
        """The run ended at a deadline: the answer awaited then was late."""
        self.late = self.waiting_for

    def heard(self, chunk: bytes) -> bytes | None:
        """Each whole line of the program's output; whatever it holds, a line that does not add up sets
        `problem` (never an exception: this runs while the sandbox is alive)."""
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if not line.startswith(self.tag.encode()):
                continue
            if self.finished:
                self.problem = self.problem or "a report line after the report was complete"
                continue
            try:
                self._accept(line[len(self.tag) :])
            except Exception as error:  # a checker bug must not keep the sandbox alive or pass the program
                self.problem = f"a report line that could not be read ({type(error).__name__})"
        if self.finished:
            # a report that does not add up ends the run now; a complete one lets the harness exit on its own
            self.deadline = time.monotonic() if self.problem is not None else None
            return None
        return self._next_case()

    def _next_case(self) -> bytes:
        """Case k is sent when case k-1 (or the last stage) is answered, and timed from then."""
        waiting = self.expected[0]
        if not isinstance(waiting, int) or self._sent == waiting:
            return b""
        self._sent = waiting
        # a fresh token per case, echoed with its answer: no answer can be written before the case is read
        self._token = secrets.token_hex(8)
        self.deadline = time.monotonic() + self.per_case_s + GRACE_S
        return (json.dumps({**self.cases[waiting].message(waiting), "token": self._token}) + "\n").encode()

    def _accept(self, payload: bytes) -> None:
        """One report line: exactly the fields the harness writes, of exactly their types, for what is due."""
        entry = report_entry(payload)
        due = self.expected[0]
        if isinstance(entry, str):
            self.problem = entry
            return
        if type(due) is str:  # a stage: [stage, kind, detail]
            if len(entry) != 3 or type(entry[0]) is not str or entry[0] != due:
                self.problem = f"a report {_shown(entry)} where the one for {due!r} was due"
                return
            key, kind, value = entry
        else:  # a case: [index, token, kind, value], answering the case just sent with its token
            if len(entry) != 4 or type(entry[0]) is not int or entry[0] != due or due != self._sent:
                self.problem = f"a report {_shown(entry)} where the one for case {due} was due"
                return
            key, token, kind, value = entry
            if type(token) is not str or token != self._token:
                self.problem = f"a report for case {key} that does not answer the case as sent"
                return
        if type(kind) is not str or kind not in KINDS:
            self.problem = f"a report of an unknown kind {_shown(kind)}"
            return
        # a pass carries a call's value (an assert's or a stage's: none); anything else, a message
        returns_value = kind == "pass" and type(key) is int and self.cases[key].code is None
        if not returns_value and not (value is None if kind == "pass" else type(value) is str):
            self.problem = f"a {kind} report for {key!r} carrying {_shown(value)}"
            return
        self.expected.pop(0)
        if type(key) is str:
            if kind != "pass":
                self.stage_failure = (key, kind, value)
            return
        self.answers.append((kind, value))


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is no value the harness writes")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > 4300:  # Python's own conversion limit: the harness writes no longer int
        raise ValueError(f"an integer of {len(digits):,} digits")
    return int(digits)


# A JSON string, escapes included, or an unclosed one to the end of the line: each byte is scanned once.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)


def nesting(payload: bytes) -> int:
    """How deep the brackets of a JSON text nest, outside its strings (linear, whatever the text)."""
    brackets = _STRING.sub(b"", payload).translate(None, _NOT_BRACKETS)
    if (openings := brackets.count(b"[") + brackets.count(b"{")) <= REPORT_DEPTH:
        return openings  # no deeper than it has openings: the common, short case
    return max(itertools.accumulate((c in b"[{") - (c in b"]}") for c in brackets))


def report_entry(payload: bytes) -> list[Any] | str:
    """A report line's JSON list, or why it is none: capped in nesting before it is parsed (a parser's
    recursion never meets the program's text), no NaN or Infinity, no integer past Python's digit limit."""
    if (depth := nesting(payload)) > REPORT_DEPTH:
        return f"a report line nested {depth} levels deep (at most {REPORT_DEPTH})"
    try:
        entry = json.loads(payload, parse_constant=_no_constant, parse_int=_integer)
    except ValueError as error:
        return f"a malformed report line ({str(error)[:100]}): {payload[:200]!r}"
    return entry if type(entry) is list else f"a report line that is no list: {payload[:200]!r}"


def _shown(value: Any) -> str:
    return repr(value)[:200]
