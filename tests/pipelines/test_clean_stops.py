"""Clean stops (issue 21, item 4): `edgeflow ui` and `edgeflow schedule` stop every process they
started, grandchildren included, on SIGTERM and on SIGINT. (`edgeflow serve` with workers:
tests/serving/test_workers.py.)"""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from tests.serving.servers import free_port

pytestmark = [pytest.mark.slow]
EDGEFLOW = os.path.join(os.path.dirname(sys.executable), "edgeflow")


def tree(pid: int) -> list:
    return psutil.Process(pid).children(recursive=True)


def left_behind(processes) -> list:
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


def wait_until(condition, timeout_s: float, what: str, process: subprocess.Popen):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what}: the command exited with {process.returncode} first")
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def stop_and_check(process: subprocess.Popen, sig: int, log_path) -> None:
    processes = tree(process.pid)
    process.send_signal(sig)
    try:
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    time.sleep(0.5)
    alive = left_behind(processes)
    assert alive == [], f"left behind after {signal.Signals(sig).name}: {alive}"
    assert code in (0, 130), open(log_path).read()[-2000:]
    print(f"\n{signal.Signals(sig).name}: {len(processes)} child processes, none left behind, exit code {code}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_stops_mlflow_and_its_workers(tmp_path, sig):
    sqlite3.connect(tmp_path / "mlflow.db").close()  # an empty store: mlflow ui creates its tables
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "w") as out:
        process = subprocess.Popen([EDGEFLOW, "ui", "--output", str(tmp_path), "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        def started() -> bool:  # mlflow ui has started its uvicorn server and its job runner
            commands = " ".join(" ".join(p.cmdline()) for p in tree(process.pid))
            return "uvicorn" in commands and "_job_runner" in commands

        wait_until(started, 180, "mlflow ui starting its server and job runner", process)
        stop_and_check(process, sig, log)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.e2e  # starts (and stops) a pipeline run
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_schedule_stops_the_run_in_progress_and_all_it_started(tmp_path, sig):
    log = tmp_path / "schedule.log"
    with open(log, "w") as out:
        process = subprocess.Popen([EDGEFLOW, "schedule", "image", "--cron", "* * * * * */1", "--output",
                                    str(tmp_path), "--", "--preset", "tiny"], stdout=out, stderr=subprocess.STDOUT)
    try:
        def run_started() -> bool:
            return any("run" in p.cmdline() and "image" in p.cmdline() for p in tree(process.pid))

        wait_until(run_started, 180, "a scheduled run starting", process)
        time.sleep(3.0)  # into the run's imports and set-up
        stop_and_check(process, sig, log)
    finally:
        if process.poll() is None:
            process.kill()
