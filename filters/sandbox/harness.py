"""Runs inside the sandbox (standard library only): loads the program, then runs assert-style or call-style
cases one by one, each under a time limit, and prints one result line, tagged with the run's nonce.

Call cases get only the arguments: the expected values stay outside and are compared there. Assert cases
carry their expected values with them; a program that tampers with this harness could fake their result.
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


def _plain(value: object) -> object:
    """The value as JSON sees it (tuples become lists); unrepresentable values become their repr."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return {"__repr__": repr(value)}


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


def main() -> None:
    nonce = sys.argv.pop(1)  # out of the program's sight (it still could dig it out of this frame)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "cases.json")) as file:
        spec = json.load(file)
    with open(os.path.join(here, "main.py")) as file:
        program = file.read()
    report = os.fdopen(os.dup(1), "w")  # a copy of stdout taken before the program can close it
    signal.signal(signal.SIGALRM, _on_alarm)
    namespace: dict[str, object] = {"__name__": "__solution__"}
    limit = float(spec["time_limit_s"])
    results: list[list[object]] = []
    loaded = _attempt(lambda: exec(compile(program, "main.py", "exec"), namespace), limit)
    if loaded[0] != "pass":
        results.append([LOAD, *loaded])
    elif spec.get("setup"):
        prepared = _attempt(lambda: exec(compile(spec["setup"], "tests", "exec"), namespace), limit)
        if prepared[0] != "pass":
            results.append([SETUP, *prepared])
    if not results:
        for case in spec.get("asserts", []):
            outcome = _attempt(lambda case=case: exec(compile(case, "test", "exec"), namespace), limit, test_code=True)
            results.append([outcome[0], None if outcome[0] == "pass" else outcome[1]])
        for args in spec.get("calls", []):
            function = _function(namespace, spec["function"])
            if not callable(function):
                results.append(["error", f"NameError: the program defines no function {spec['function']!r}"])
                continue
            outcome = _attempt(lambda args=args, function=function: _plain(function(*args)), limit)
            results.append(outcome)
    sys.stdout.flush()
    report.write("\n" + nonce + json.dumps(results) + "\n")
    report.flush()
    os._exit(0)  # skip interpreter teardown: the program's atexit hooks and threads do not decide the result


if __name__ == "__main__":
    main()
