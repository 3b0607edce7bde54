"""OS file locks (``flock``): one run of a pipeline per output folder, one scheduler per lock file.

The kernel drops a flock when its process dies, however it dies, so a crashed run or a
killed scheduler never leaves a stale lock behind; the file only names the last holder.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from edgeflow import EdgeflowError


class LockHeld(EdgeflowError):
    pass


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def file_lock(path: Path, what: str, fix: str) -> Iterator[None]:
    """Holds an exclusive, non-blocking flock on `path`; raises LockHeld naming `what` and `fix`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"{what} is already running (process {_holder(path)}, lock {path}); {fix}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_locked(path: Path) -> bool:
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def run_lock_path(cfg) -> Path:
    return cfg.output_dir / cfg.name / "run.lock"


def pipeline_lock(cfg):
    """Held for the whole of one pipeline run."""
    return file_lock(run_lock_path(cfg), f"a run of pipeline {cfg.name!r} in {cfg.output_dir}",
                     "wait for it to finish (runs of one pipeline never overlap) or use another --output")
