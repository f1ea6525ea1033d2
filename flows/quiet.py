"""A quiet terminal for `cotfactory run`: what the engine and libraries write to stderr (vLLM's and torch's
warnings, the engine processes' start-up lines, Python warnings) goes to a log file beside the store, while
cotfactory's own progress, funnel and errors stay on the terminal. When the run fails, the log's last lines are
shown too, so the cause is never hidden."""

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# Libraries' own log levels: warnings are for the log file or --verbose, errors still reach the terminal.
QUIET_ENVIRONMENT = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}
TAIL_LINES = 30


def log_path_for(db: Path) -> Path:
    """Where a run on store `db` logs what it keeps off the terminal: `DB.log` beside it."""
    return db.with_name(db.name + ".log")


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `path`, as text whatever its bytes."""
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - 64 * 1024))
        text = stream.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def library_output_to(log: Path) -> Iterator[TextIO]:
    """Point file descriptor 2 (inherited by every child process) at `log` and keep `sys.stderr` on the
    terminal; yields the terminal's stream. Restored on exit; on an exception the log's tail is printed first."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    log_stream = log.open("a", buffering=1, encoding="utf-8", errors="backslashreplace")
    os.dup2(log_stream.fileno(), 2)
    previous_stderr, previous_showwarning = sys.stderr, warnings.showwarning
    sys.stderr = terminal

    def to_log(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        log_stream.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = to_log
    try:
        yield terminal
    except BaseException:
        log_stream.flush()
        if log.stat().st_size:
            terminal.write(f"--- the last lines of {log} ---\n{tail(log)}\n---\n")
        raise
    finally:
        warnings.showwarning = previous_showwarning
        sys.stderr = previous_stderr
        os.dup2(terminal_fd, 2)
        terminal.flush()
        log_stream.close()
