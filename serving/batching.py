"""Server-side batching: concurrent requests to one signature run as one batched call.

Requests queue up; one worker thread takes the first, gathers those already queued (those
that arrived while the previous batch ran) and, with ``timeout_s`` > 0, more for up to
``timeout_s`` (until ``max_batch_size`` rows); it concatenates them along axis 0, calls the
signature once and hands each caller its rows. It waits for company only when the previous
batch had some (a lone client pays no timeout). When a merged call fails, each
request is retried alone, so one bad request (an undecodable image) fails only itself.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np

Arrays = Dict[str, np.ndarray]


class _Job:
    def __init__(self, inputs: Arrays, rows: int):
        self.inputs, self.rows = inputs, rows
        self.result: Optional[Arrays] = None
        self.error: Optional[BaseException] = None
        self.done = threading.Lock()  # held until answered: a bare lock is the cheapest handoff between threads
        self.done.acquire()


def batch_rows(inputs: Arrays) -> int:
    return int(next(iter(inputs.values())).shape[0])


class Batcher:
    """Calls ``run(inputs) -> outputs`` on merged batches; every input and output is batch-major."""

    def __init__(self, run: Callable[[Arrays], Arrays], max_batch_size: int, timeout_s: float, name: str = ""):
        self._run, self.max_batch_size, self.timeout_s = run, max_batch_size, timeout_s
        self._queue: "queue.Queue[Optional[_Job]]" = queue.Queue()
        self._last_batch_jobs = 1
        self.batches = self.requests = 0  # counters, for tests and benchmarks
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def __call__(self, inputs: Arrays) -> Arrays:
        rows = batch_rows(inputs)
        if rows == 0 or rows >= self.max_batch_size:
            return self._run(inputs)
        job = _Job(inputs, rows)
        self._queue.put(job)
        job.done.acquire()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _gather(self, first: _Job) -> tuple:
        """(jobs for one batch, a job left over for the next batch, stop?)."""
        jobs, rows = [first], first.rows
        deadline = time.monotonic() + (self.timeout_s if self._last_batch_jobs > 1 else 0.0)
        while rows < self.max_batch_size:
            try:
                remaining = deadline - time.monotonic()
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, None, True
            if rows + job.rows > self.max_batch_size:
                return jobs, job, False
            jobs.append(job)
            rows += job.rows
        return jobs, None, False

    def _loop(self) -> None:
        carried: Optional[_Job] = None
        stop = False
        while not stop:
            first = carried if carried is not None else self._queue.get()
            if first is None:
                return
            jobs, carried, stop = self._gather(first)
            self._execute(jobs)
        if carried is not None:
            self._execute([carried])

    def _execute(self, jobs: List[_Job]) -> None:
        self._last_batch_jobs = len(jobs)
        self.batches += 1
        self.requests += len(jobs)
        if len(jobs) == 1:
            return self._finish(jobs[0])
        try:  # inputs with different inner shapes do not concatenate: also answered one by one
            merged = {key: np.concatenate([j.inputs[key] for j in jobs]) for key in jobs[0].inputs}
            outputs = self._run(merged)
        except Exception:  # noqa: BLE001 - some request is bad: answer each on its own
            for job in jobs:
                self._finish(job)
            return
        start = 0
        for job in jobs:
            job.result = {key: value[start:start + job.rows] for key, value in outputs.items()}
            start += job.rows
            job.done.release()

    def _finish(self, job: _Job) -> None:
        try:
            job.result = self._run(job.inputs)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            job.error = err
        job.done.release()
