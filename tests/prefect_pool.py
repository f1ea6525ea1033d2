"""A real Prefect setup on 127.0.0.1 for tests and benchmarks: `prefect server start` on a free port, a process
work pool and `prefect worker start` processes; every process started here is stopped, with everything under
it, when the block ends."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process under `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def flow_run_of(pid: int) -> str | None:
    """The Prefect flow run a process runs (its PREFECT__FLOW_RUN_ID), if any."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"PREFECT__FLOW_RUN_ID="):
            return entry.split(b"=", 1)[1].decode()
    return None


@dataclass
class LocalPool:
    """A running server, its pool and workers; `start` runs more processes that are stopped with them."""

    folder: Path
    name: str
    api: str
    env: dict[str, str]
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, *args: str, log: str) -> subprocess.Popen[str]:
        out = (self.folder / log).open("w")
        process = subprocess.Popen(
            list(args), env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            cwd=self.folder,
        )  # fmt: skip
        self.started.append(process)
        return process

    def add_worker(self) -> subprocess.Popen[str]:
        """One more `prefect worker start` on the pool (a restarted worker)."""
        log = f"worker-{len(self.workers)}.log"
        worker = self.start(*PREFECT, "worker", "start", "--pool", self.name, "--type", "process", log=log)
        self.workers.append(worker)
        return worker

    def flow_run_processes(self) -> list[int]:
        """The top process of each flow run the workers run now (its check workers carry the same id)."""
        runs = [pid for worker in self.workers for pid in descendants(worker.pid) if flow_run_of(pid)]
        return [pid for pid in runs if not any(pid in descendants(other) for other in runs)]

    def stop(self) -> None:
        for process in reversed(self.started):  # workers and runs before the server they report to
            # the whole session: what a killed worker left running is in it too (none left: nothing to do)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


def _wait_healthy(pool: LocalPool, server: subprocess.Popen[str], log: Path) -> None:
    """Until the server answers its health check (it creates its database first), or dies."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{pool.api}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)  # polling a starting server's readiness
    raise AssertionError("prefect server did not start: " + log.read_text()[-3000:])


@contextmanager
def local_pool(folder: Path, name: str, workers: int = 2) -> Iterator[LocalPool]:
    """A Prefect server with a process work pool `name` served by `workers` workers, under `folder`."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(folder / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # workers poll every 2 s (Prefect's default is 10): fast pickup, without every poll contending for the
        # server's SQLite database with the triggers of its automations
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }
    pool = LocalPool(folder, name, api, env)
    try:
        server = pool.start(*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), log="server.log")
        _wait_healthy(pool, server, folder / "server.log")
        made = subprocess.run([*PREFECT, "work-pool", "create", name, "--type", "process"], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert made.returncode == 0, made.stderr
        for _ in range(workers):
            pool.add_worker()
        yield pool
    finally:
        pool.stop()
