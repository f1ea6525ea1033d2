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

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from cotfactory.filters.harness_cases import HarnessCase

# Time an answer may take on top of the case's limit: the harness's own work and the pipe (milliseconds).
GRACE_S = 0.25


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
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.startswith(self.tag.encode()) and not self.finished:
                self._accept(line[len(self.tag) :])
            elif line.startswith(self.tag.encode()):
                self.problem = self.problem or "a report line after the report was complete"
        if self.finished:
            self.deadline = None
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
        try:
            entry = json.loads(payload)
            key = entry[0]
            key, token, kind, value = entry if isinstance(key, int) else (key, self._token, *entry[1:])
        except (ValueError, TypeError, KeyError, IndexError):
            self.problem = f"a malformed report line: {payload[:200]!r}"
            return
        if key != self.expected[0]:
            self.problem = f"a report for {key!r} where the one for {self.expected[0]!r} was due"
            return
        if isinstance(key, int) and (key != self._sent or token != self._token):  # not an answer to what was asked
            self.problem = f"a report for case {key} that does not answer the case as sent"
            return
        if kind not in ("pass", "fail", "error", "timeout", "memory"):
            self.problem = f"a report of an unknown kind {kind!r}"
            return
        self.expected.pop(0)
        if key in ("load", "setup"):
            if kind != "pass":
                self.stage_failure = (str(key), str(kind), str(value))
            return
        self.answers.append((kind, value))
