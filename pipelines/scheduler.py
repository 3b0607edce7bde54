"""``edgeflow schedule``: a long-running process that runs pipelines on cron schedules.

* Cron expressions are parsed by croniter (5 fields, or 6 with seconds last: ``* * * * * */5`` = every 5 s).
* Each run is a child process (``edgeflow run ...``) that takes the pipeline's run lock
  (pipelines/locks.py), so a run never overlaps another run of the same pipeline, whether
  scheduled, started by hand, or left behind by a killed scheduler. The child is told to stop
  (SIGTERM) when the scheduler dies, and a SIGTERM run ends its MLflow run as FAILED.
* One scheduler per output folder (``<output>/scheduler.lock``, an OS lock that dies with it).
* Misfires (fire times missed while a run was still going, or while no scheduler ran):
  ``run_once`` runs once right away if the newest missed time is at most ``grace`` seconds old,
  then follows the schedule; ``skip`` drops them and waits for the next fire time.
* SIGTERM or SIGINT: no new runs; a run in progress gets SIGTERM (its whole process group, so
  whatever it started stops too; SIGKILL after ``stop_grace_s``), and the scheduler exits 0 once
  no process of the run is left (pipelines/children.py).
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from edgeflow import EdgeflowError
from edgeflow.pipelines.children import start_group, wait_group
from edgeflow.pipelines.locks import file_lock

log = logging.getLogger("edgeflow")
MISFIRE_POLICIES = ("run_once", "skip")


class ScheduleError(EdgeflowError):
    pass


def parse_cron(expr: str):
    """A croniter for `expr`; raises ScheduleError with the fix for a malformed expression."""
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise ScheduleError(f"cron expression {expr!r} is not valid; use 5 fields (minute hour day month weekday, "
                            "e.g. '0 2 * * *') or 6 with seconds last (e.g. '* * * * * */30')")
    return croniter


def next_fire(expr: str, after: float) -> float:
    """The first fire time of `expr` strictly after `after` (epoch seconds, local time)."""
    return parse_cron(expr)(expr, datetime.fromtimestamp(after)).get_next(float)


def plan_after_run(expr: str, scheduled: float, now: float, policy: str, grace: float) -> tuple:
    """(next fire time, missed fire times) once a run scheduled at `scheduled` ends at `now`."""
    nxt, missed = next_fire(expr, scheduled), []
    while nxt <= now:
        missed.append(nxt)
        nxt = next_fire(expr, nxt)
    if missed and policy == "run_once" and now - missed[-1] <= grace:
        return now, missed  # coalesce every missed time into one run, now
    return nxt, missed


@dataclass
class Job:
    pipeline: str
    cron: str
    next_at: float = 0.0
    runs: int = 0


class Scheduler:
    """Runs `jobs` until stopped (or until each ran `max_runs` times); see the module docstring."""

    def __init__(self, jobs: Sequence[Job], output: Path, run_args: Sequence[str] = (),
                 misfire: str = "run_once", grace: float = 3600.0, max_runs: Optional[int] = None,
                 before_start: Callable[[], None] = lambda: None):
        if misfire not in MISFIRE_POLICIES:
            raise ScheduleError(f"misfire policy {misfire!r} is unknown; choose one of {', '.join(MISFIRE_POLICIES)}")
        for job in jobs:
            parse_cron(job.cron)
        self.jobs, self.output, self.run_args = list(jobs), Path(output).resolve(), list(run_args)
        self.misfire, self.grace, self.max_runs, self.before_start = misfire, grace, max_runs, before_start
        self._stop = threading.Event()
        self.stop_grace_s = 60.0  # a stopped run's time to end its MLflow run before its group gets SIGKILL

    def stop(self, *_):  # the run in progress gets SIGTERM from _run's wait_group
        self._stop.set()

    def _command(self, job: Job) -> List[str]:
        return [sys.executable, "-m", "edgeflow.pipelines.cli", "run", job.pipeline,
                "--output", str(self.output), *self.run_args]

    def _run(self, job: Job) -> int:
        log.info("schedule: %s run %d starting (%s)", job.pipeline, job.runs + 1, job.cron)
        t0 = time.time()
        child = start_group(self._command(job))  # its own process group: the run and all it started
        rc = wait_group(child, self._stop, self.stop_grace_s)
        job.runs += 1
        log.info("schedule: %s run %d %s in %.0fs", job.pipeline, job.runs,
                 "finished" if rc == 0 else f"failed (exit {rc})", time.time() - t0)
        return rc

    def _done(self) -> bool:
        return self._stop.is_set() or (self.max_runs is not None and all(j.runs >= self.max_runs for j in self.jobs))

    def run(self) -> None:
        with file_lock(self.output / "scheduler.lock", f"an edgeflow scheduler for {self.output}",
                       "stop it first (SIGTERM) or schedule into another --output"):
            self.before_start()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self.stop)
            now = time.time()
            for job in self.jobs:
                job.next_at = next_fire(job.cron, now)
                log.info("schedule: %s on '%s', first run at %s", job.pipeline, job.cron,
                         datetime.fromtimestamp(job.next_at).strftime("%Y-%m-%d %H:%M:%S"))
            while not self._done():
                job = min((j for j in self.jobs if self.max_runs is None or j.runs < self.max_runs),
                          key=lambda j: j.next_at)
                if self._stop.wait(max(0.0, job.next_at - time.time())):
                    break
                scheduled = job.next_at
                self._run(job)
                job.next_at, missed = plan_after_run(job.cron, scheduled, time.time(), self.misfire, self.grace)
                if missed:
                    log.info("schedule: %s missed %d fire time(s) during the run; %s", job.pipeline, len(missed),
                             "running once now" if job.next_at <= time.time() else "skipped them")
            log.info("schedule: stopped")
