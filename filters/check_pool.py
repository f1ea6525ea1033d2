"""Check worker processes watched from outside. Each worker reports, in shared memory, which sample and which
check it is running and since when; the parent enforces each sample's time limit itself, and a worker that
dies (killed for memory, a segfault in a native library) is replaced, with its unfinished samples sent again.
So a hang is charged to the check that hung, a crash to the sample that caused it, and neither ends a batch.
Such a verdict (`verify_timeout`, `check_crashed`) is that check's verdict: the sample goes out once more with
it given, so its other checks' verdicts are computed and kept as for any sample.
"""

import contextlib
import logging
import multiprocessing
import signal
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from cotfactory.filters.checks import Sample, Verdict, failed

log = logging.getLogger(__name__)

# A sample whose check kills its worker this many times gets `check_crashed` instead of another try.
CRASHES_BEFORE_VERDICT = 2
_IDLE = -1.0

Given = dict[str, Verdict] | None
Apply = Callable[[Sequence[Any], Sample, bool, Callable[[int], None], Given], dict[str, Verdict]]
Ready = Callable[[Sequence[Any]], None]


def _serve(conn: Connection, checks: Sequence[Any], apply: Apply, ready: Ready, state: Any) -> None:
    """A worker: run checks on the samples it is sent, one result message per sample."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to stop, not the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ready(checks)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        job_id, samples, stop_at_failure, given = job
        for position, sample in enumerate(samples):
            # Written in this order, read in the reverse: a parent that sees this position sees its job and time.
            state[2], state[1], state[3], state[0] = time.monotonic(), 0.0, float(job_id), float(position)

            def running(check_index: int) -> None:
                state[1] = float(check_index)

            verdicts = apply(checks, sample, stop_at_failure, running, given[position])
            conn.send((position, verdicts))
        state[0] = _IDLE


class _Worker:
    """One worker process, its pipe, and the shared (sample position, check index, started, job id) it reports."""

    def __init__(self, context: Any, checks: Sequence[Any], apply: Apply, ready: Ready) -> None:
        self.state = context.Array("d", [_IDLE, 0.0, 0.0, -1.0], lock=False)
        parent_end, child_end = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child_end, checks, apply, ready, self.state), daemon=True, name="cotfactory-check"
        )
        self.process.start()
        child_end.close()
        self.conn: Connection = parent_end
        self.ready = False
        self.job: list[int] | None = None  # batch positions of the samples sent
        self.job_id = -1
        self.received = 0

    def wait_ready(self, timeout_s: float) -> None:
        if self.ready:
            return
        try:
            self.ready = self.conn.poll(timeout_s) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            self.ready = False
        if not self.ready:
            self.kill()
            raise RuntimeError(f"a check worker did not start within {timeout_s:g}s ({self.how_it_ended()})")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=30)
        self.conn.close()

    def how_it_ended(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"


class CheckPool:
    """`workers` processes that apply `checks` (via `apply`) to samples, each sample under a hard time limit."""

    def __init__(self, workers: int, checks: Sequence[Any], apply: Apply, ready: Ready) -> None:
        self.size = workers
        self.checks = list(checks)
        self.apply = apply
        self.ready = ready
        # spawn: forking a process that runs an inference engine's threads is unsafe
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.replaced = 0
        self.jobs_sent = 0

    def start(self) -> None:
        """Start every worker and wait until each runs: an interpreter's start must not count against a sample."""
        while len(self.workers) < self.size:
            self.workers.append(_Worker(self.context, self.checks, self.apply, self.ready))
        for worker in self.workers:
            worker.wait_ready(300)

    def close(self) -> None:
        """Stop every worker and wait for it, so none outlives the pool."""
        for worker in self.workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(timeout=10)
            worker.kill()
        self.workers = []

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = _Worker(self.context, self.checks, self.apply, self.ready)
        fresh.wait_ready(300)
        self.workers[self.workers.index(worker)] = fresh
        self.replaced += 1
        return fresh

    def run(
        self, samples: Sequence[Sample], *, stop_at_failure: bool, timeout_for: Callable[[Sample], float]
    ) -> list[dict[str, Verdict]]:
        """Verdicts per sample, in order. Samples go out in small chunks (less inter-process traffic than one
        by one); results come back one by one, so a hang or a crash loses nothing of the samples before it."""
        self.start()
        results: list[dict[str, Verdict] | None] = [None] * len(samples)
        chunk = max(1, min(16, len(samples) // (self.size * 4)))
        queue = deque(list(range(start, min(start + chunk, len(samples)))) for start in range(0, len(samples), chunk))
        crashes: Counter[int] = Counter()
        given: dict[int, dict[str, Verdict]] = {}
        while queue or any(w.job is not None for w in self.workers):
            for worker in list(self.workers):
                if worker.job is None and queue:
                    if not worker.process.is_alive():  # died while idle: nothing of the batch to charge
                        worker = self._replace(worker)
                    worker.job, worker.received = queue.popleft(), 0
                    self.jobs_sent += 1
                    worker.job_id = self.jobs_sent
                    job = [samples[i] for i in worker.job]
                    worker.conn.send((worker.job_id, job, stop_at_failure, [given.get(i) for i in worker.job]))
            busy = [w for w in self.workers if w.job is not None]
            # Wake up at least every half second to look at the time limits of the samples running.
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=0.5)
            for worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    self._collect(worker, results, queue, crashes, given)
            now = time.monotonic()
            for worker in [w for w in self.workers if w.job is not None]:
                self._enforce_time_limit(worker, samples, results, queue, timeout_for, now, given)
        return [result or {} for result in results]

    @staticmethod
    def _drain(worker: _Worker, results: list[dict[str, Verdict] | None]) -> None:
        """Read every result the worker has sent so far."""
        assert worker.job is not None
        try:
            while worker.conn.poll():
                position, verdicts = worker.conn.recv()
                results[worker.job[position]] = verdicts
                worker.received = position + 1
        except (EOFError, OSError):
            pass

    def _collect(
        self,
        worker: _Worker,
        results: list[dict[str, Verdict] | None],
        queue: deque,
        crashes: Counter[int],
        given: dict[int, dict[str, Verdict]],
    ) -> None:
        """Read every result the worker sent; if it died, charge the crash to the sample it was running."""
        assert worker.job is not None
        self._drain(worker, results)
        if worker.received == len(worker.job):
            worker.job = None
            return
        if worker.process.is_alive():
            return
        job, done = worker.job, worker.received
        culprit = job[done]
        crashes[culprit] += 1
        ended = worker.how_it_ended()
        running = int(worker.state[3]) == worker.job_id and int(worker.state[0]) == done
        check = self.checks[int(worker.state[1])].name if running else self.checks[0].name
        log.warning("a check worker died (%s) on sample %d in check %s; replacing it", ended, culprit, check)
        if crashes[culprit] >= CRASHES_BEFORE_VERDICT:
            verdict = failed("check_crashed", detail=f"the check worker died twice: {ended}")
            given.setdefault(culprit, {})[check] = verdict
            crashes[culprit] = 0
        queue.appendleft([culprit])
        if job[done + 1 :]:
            queue.append(job[done + 1 :])
        worker.job = None
        self._replace(worker)

    def _enforce_time_limit(
        self,
        worker: _Worker,
        samples: Sequence[Sample],
        results: list[dict[str, Verdict] | None],
        queue: deque,
        timeout_for: Callable[[Sample], float],
        now: float,
        given: dict[int, dict[str, Verdict]],
    ) -> None:
        """Kill a worker whose sample is past its time limit: that sample gets `verify_timeout` under the check
        that was running (given, when the sample goes out again for its other checks), the rest of its chunk goes
        out again."""
        assert worker.job is not None
        position = int(worker.state[0])
        if int(worker.state[3]) != worker.job_id or position < worker.received:  # not started, or its result is in
            return
        index = worker.job[position]
        limit = timeout_for(samples[index])
        if now - worker.state[2] <= limit:
            return
        self._drain(worker, results)
        if worker.received > position:  # it finished just now
            if worker.received == len(worker.job):
                worker.job = None
            return
        check = self.checks[int(worker.state[1])].name
        timed_out = failed("verify_timeout", detail=f"no verdict from {check} within {limit:g}s")
        given.setdefault(index, {})[check] = timed_out
        queue.appendleft([index])
        if worker.job[position + 1 :]:
            queue.append(worker.job[position + 1 :])
        worker.job = None
        self._replace(worker)
