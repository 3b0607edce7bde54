"""Child processes that never outlive the command that started them (issue 21, item 4).

A child is started in a process group of its own (``start_new_session``), so everything it
starts in turn (``mlflow ui``'s uvicorn server and job runner, a pipeline run's converter
processes) is in that group too, even after its parent has gone. Stopping it signals the
whole group, waits, and SIGKILLs whatever is left after a grace period. ``PR_SET_PDEATHSIG``
sends the child SIGTERM if the command itself dies without a chance to clean up (SIGKILL).
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import List, Sequence


def _die_with_parent() -> None:  # runs in the child before exec (Linux)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_group(cmd: Sequence[str], **kwargs) -> subprocess.Popen:
    """Starts `cmd` as the leader of a new process group (its pid is the group id)."""
    return subprocess.Popen(list(cmd), start_new_session=True, preexec_fn=_die_with_parent, **kwargs)


def group_members(pgid: int) -> List[int]:
    """Live (not zombie) processes of group `pgid`, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_group(child: subprocess.Popen, stop: threading.Event, grace_s: float = 10.0) -> int:
    """Waits for `child`; once `stop` is set, SIGTERMs its group and SIGKILLs it after `grace_s`.
    Returns the child's exit code, after no process of its group is left."""
    stopped_at = None
    while True:
        try:
            code = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        if stop.is_set() and stopped_at is None:
            stopped_at = time.monotonic()
            signal_group(child.pid, signal.SIGTERM)
        elif stopped_at is not None and time.monotonic() - stopped_at > grace_s:
            signal_group(child.pid, signal.SIGKILL)
    end_group(child.pid, grace_s)
    return code


def end_group(pgid: int, grace_s: float = 10.0) -> None:
    """Stops what is left of a group whose leader has exited: SIGTERM, then SIGKILL after `grace_s`."""
    if not group_members(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


def stop_on_signals(signals=(signal.SIGTERM, signal.SIGINT)) -> threading.Event:
    """An event set by SIGTERM or SIGINT (instead of the default: dying and orphaning the children)."""
    stop = threading.Event()
    for sig in signals:
        signal.signal(sig, lambda *_: stop.set())
    return stop
