"""What the sandbox tests share: the limits they run probes under, running a probe, reading its report, and
finding what a probe could have left running."""

import json
import os
import textwrap
from pathlib import Path

from cotfactory.filters.sandbox import Limits, ProcessResult, Sandbox

LIMITS = Limits(wall_s=15, cpu_s=5, memory_mb=512, processes=64)
PROJECT = Path(__file__).resolve().parents[1]


def live_processes_of_uids(uids: range) -> list[str]:
    """Running (not zombie) processes whose real uid is one of `uids`: what the probes could have left."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        if int(status["Uid"].split()[0]) in uids and not status["State"].strip().startswith("Z"):
            found.append(f"{entry.name}: {status['Name'].strip()}")
    return found


def run(sandbox: Sandbox, program: str, limits: Limits = LIMITS, stdin: bytes = b"") -> ProcessResult:
    return sandbox.run({"main.py": textwrap.dedent(program).encode()}, "main.py", stdin=stdin, limits=limits)


def report(result: ProcessResult) -> dict:
    """The JSON object the probe program printed last."""
    assert result.returncode == 0, result
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def live_processes_with(token: str) -> list[str]:
    """Running (not zombie) processes whose command line holds `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token in cmdline and state != "Z" and entry.name != str(os.getpid()):
            found.append(f"{entry.name}: {cmdline}")
    return found
