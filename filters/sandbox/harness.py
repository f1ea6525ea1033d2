"""Runs inside the sandbox (standard library only): loads the program, then runs the test cases it is sent one
at a time, each under a time limit, and reports each one's outcome on its own tagged line.

The checker outside sends a case only after the previous case's report came, and times each case on its own
clock, so a program that switches off this harness's timer still runs out of time. Call cases get only the
arguments: the returned value is reported, typed, and compared outside with an expected value that never
enters the sandbox. Assert cases run their statement here; a program that tampers with this harness could fake
their outcome, never a call case's. The tag only tells report lines from the program's own output: nothing a
report line says is trusted beyond what the checker outside can verify.
"""

import json
import os
import signal
import sys
import traceback
from collections.abc import Callable

LOAD = "load"
SETUP = "setup"


class CaseTimeout(BaseException):  # BaseException: `except Exception` in the program does not swallow it
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseTimeout


# How deep a reported value may nest; deeper parts are reported as opaque. Each level is at most three levels of
# its JSON (a dict's pair list), so a report line nests at most REPORT_DEPTH levels: the checker refuses more.
MAX_DEPTH = 40
DEEPER_THAN = "a value nested deeper than"
REPORT_DEPTH = 3 * MAX_DEPTH + 8
# Past Python's int-string conversion limit (4300 digits) an int cannot be written as JSON: opaque instead.
MAX_INT_BITS = 14_000


def typed(value: object, depth: int = 0) -> object:
    """The value as JSON that keeps Python's types apart: tuples, sets and dicts (any keys) are tagged; a
    value of any other type is its repr, which equals no expected value. This module's codec is the one the
    checker outside uses too."""
    if depth > MAX_DEPTH:
        return {"__repr__": f"{DEEPER_THAN} {MAX_DEPTH} levels"}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if type(value) is not int:
            return {"__repr__": repr(value)[:300]}
        return value if value.bit_length() <= MAX_INT_BITS else {"__repr__": f"an int of {value.bit_length()} bits"}
    if isinstance(value, float):
        finite = type(value) is float and value == value and abs(value) != float("inf")
        return value if finite else {"__float__": repr(value)}
    if type(value) is list:
        return [typed(item, depth + 1) for item in value]
    if type(value) is tuple:
        return {"__tuple__": [typed(item, depth + 1) for item in value]}
    if type(value) in (set, frozenset):
        return {"__set__": [typed(item, depth + 1) for item in value]}
    if type(value) is dict:
        return {"__dict__": [[typed(key, depth + 1), typed(item, depth + 1)] for key, item in value.items()]}
    return {"__repr__": repr(value)[:300]}


def untyped(value: object, unknown: Callable[[dict], object] | None = None) -> object:
    """Typed JSON (as `typed` writes it) back as Python values. `unknown`: what a dict that is no value tag
    (a `__repr__`, a plain dict) becomes; without it, a plain dict stays a dict. Raises TypeError or
    ValueError on a malformed tag (a set of lists, a pair that is no pair)."""
    if isinstance(value, list):
        return [untyped(item, unknown) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "__tuple__":
            return tuple(untyped(item, unknown) for item in _items(inner))
        if tag == "__set__":
            return {_hashable(untyped(item, unknown)) for item in _items(inner)}
        if tag == "__dict__":
            return {_hashable(untyped(key, unknown)): untyped(item, unknown) for key, item in _items(inner)}
        if tag == "__float__" and isinstance(inner, str):
            return float(inner)
    if unknown is not None:
        return unknown(value)
    return {key: untyped(item) for key, item in value.items()}


def _hashable(value: object) -> object:
    """A set inside a set or as a key was a frozenset (the JSON tells them not apart)."""
    if type(value) is set:
        return frozenset(value)
    return tuple(map(_hashable, value)) if type(value) is tuple else value


def _items(inner: object) -> list:
    if not isinstance(inner, list):
        raise TypeError(f"a tagged value holds {type(inner).__name__}, not a list")
    return inner


def _raised_in_program(error: BaseException) -> bool:
    return any(frame.filename == "main.py" for frame in traceback.extract_tb(error.__traceback__))


def _attempt(action: Callable[[], object], limit_s: float, *, test_code: bool = False) -> list[object]:
    """["pass", value] or [kind, detail] with kind in fail, error, timeout, memory. In `test_code`, an error
    the test itself raises on the program's result (a TypeError comparing None) is a failed test."""
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        return ["pass", action()]
    except CaseTimeout:
        return ["timeout", f"over {limit_s:g}s"]
    except MemoryError:
        return ["memory", "MemoryError"]
    except AssertionError as error:
        return ["fail", str(error)[:300]]
    except BaseException as error:  # anything the program raises, SystemExit included
        lines = "".join(traceback.format_exception_only(type(error), error)).strip()[-500:]
        return ["fail" if test_code and not _raised_in_program(error) else "error", lines]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _function(namespace: dict[str, object], name: str) -> object:
    """The function to call: a top-level one, else the method of LeetCode's `class Solution` (a new instance
    per call, as LeetCode's judge makes)."""
    if callable(namespace.get(name)):
        return namespace[name]
    solution = namespace.get("Solution")
    if isinstance(solution, type) and callable(getattr(solution, name, None)):
        return lambda *args: getattr(solution(), name)(*args)
    return None


def _run_case(case: dict, namespace: dict[str, object], limit: float) -> list[object]:
    if "assert" in case:
        outcome = _attempt(lambda: exec(compile(case["assert"], "test", "exec"), namespace), limit, test_code=True)
        return [outcome[0], None if outcome[0] == "pass" else outcome[1]]
    function = _function(namespace, case["call"])
    if not callable(function):
        return ["error", f"NameError: the program defines no function {case['call']!r}"]
    return _attempt(lambda: typed(function(*untyped(case["args"]))), limit)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")  # the case stream, taken before the program runs
    report = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="backslashreplace")
    empty = os.open(os.devnull, os.O_RDONLY)
    os.dup2(empty, 0)  # the program's own stdin is empty
    os.close(empty)
    opening = json.loads(requests.readline())
    tag, limit, setup = opening["tag"], float(opening["time_limit_s"]), opening.get("setup") or ""
    del opening

    def send(entry: list[object]) -> None:
        sys.stdout.flush()
        report.write("\n" + tag + json.dumps(entry) + "\n")
        report.flush()

    with open(os.path.join(here, "main.py"), encoding="utf-8", errors="surrogateescape") as file:
        program = file.read()
    signal.signal(signal.SIGALRM, _on_alarm)
    namespace: dict[str, object] = {"__name__": "__solution__"}
    loaded = _attempt(lambda: exec(compile(program, "main.py", "exec"), namespace), limit)
    send([LOAD, loaded[0], None if loaded[0] == "pass" else loaded[1]])
    if loaded[0] != "pass":
        os._exit(0)
    if setup:
        prepared = _attempt(lambda: exec(compile(setup, "tests", "exec"), namespace), limit)
        send([SETUP, prepared[0], None if prepared[0] == "pass" else prepared[1]])
        if prepared[0] != "pass":
            os._exit(0)
    for line in requests:  # the next case comes only after this one's report
        case = json.loads(line)
        send([case["index"], case["token"], *_run_case(case, namespace, limit)])
    os._exit(0)  # skip interpreter teardown: the program's atexit hooks and threads do not decide the result


if __name__ == "__main__":
    main()
