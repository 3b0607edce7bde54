"""MLflow processes started by tests (`mlflow server`, `mlflow models serve`), stopped with all they started.

`mlflow server` starts uvicorn workers and a huey job runner; Popen + terminate() stops only the
first process, and the rest would stay for the remainder of the one-process test suite. Each
process here gets its own session (process group); on exit the whole group gets SIGTERM, then
SIGKILL if anything is left after a few seconds.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

MLFLOW = str(Path(sys.executable).parent / "mlflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 240, log: Optional[Path] = None) -> None:
    """Returns once `url` answers; fails when `proc` exits first or `seconds` pass."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{proc.args[1:3]} exited with {proc.returncode} before {url} answered\n{tail}")
        try:
            with opener.open(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def stop_group(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM to `proc`'s whole process group, then SIGKILL to whatever is left of it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.time() + grace_s
    while time.time() < deadline:  # the group outlives its leader while workers shut down
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@contextmanager
def mlflow_process(args: List[str], health_url: str, log: Path, env: Optional[dict] = None,
                   seconds: float = 240) -> Iterator[subprocess.Popen]:
    """``mlflow <args>`` in its own process group, with its output in `log`; yields once `health_url` answers."""
    # as from an activated venv: `mlflow models serve` starts `uvicorn` by name, from PATH
    path = os.pathsep.join([str(Path(MLFLOW).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    with open(log, "w") as out:
        proc = subprocess.Popen([MLFLOW, *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        wait_http(health_url, proc, seconds, log)
        yield proc
    finally:
        stop_group(proc)


@contextmanager
def mlflow_server(root: Path) -> Iterator[Tuple[str, subprocess.Popen]]:
    """A real ``mlflow server`` on a free loopback port, its store and artifacts under `root`: (url, process)."""
    port = free_port()
    args = ["server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with mlflow_process(args, url + "/health", root / "mlflow-server.log") as proc:
        yield url, proc
