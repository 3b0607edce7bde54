"""Console for people, log file for everything.

The console shows edgeflow's own progress (one line per TFX component with its time,
one per training epoch) and results; TFX, Beam, TensorFlow and absl logs go to a file
under ``<output>/logs/``, whose path the console names.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

CONSOLE = logging.getLogger("edgeflow")


class ComponentProgress(logging.Handler):
    """Turns TFX LocalDagRunner's 'Component X is running/finished.' records into progress lines;
    a component whose results came from TFX's cache (the launcher logs 'A cached execution %d is
    used.' in between) is reported as reused and listed in ``cached``."""

    def __init__(self, node_ids: Sequence[str]):
        super().__init__(logging.INFO)
        self.node_ids, self.started, self.durations = list(node_ids), {}, {}
        self.current, self.cached = None, []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "A cached execution %d is used." and self.current:
            self.cached.append(self.current)
            return
        if record.msg not in ("Component %s is running.", "Component %s is finished.") or not record.args:
            return
        node = record.args[0]
        step = self.node_ids.index(node) + 1 if node in self.node_ids else 0
        if record.msg.endswith("running."):
            self.started[node], self.current = time.time(), node
            CONSOLE.info("[%d/%d] %s ...", step, len(self.node_ids), node)
        else:
            self.durations[node] = time.time() - self.started.get(node, time.time())
            how = "reused from cache" if node in self.cached else "done"
            CONSOLE.info("[%d/%d] %s %s in %.1fs", step, len(self.node_ids), node, how, self.durations[node])


def setup_logging(log_dir: Optional[Path] = None, name: str = "edgeflow") -> Optional[Path]:
    """Console handler for edgeflow's loggers; every record (any library) into a log file."""
    import mlflow  # noqa: F401 - imported first: mlflow and absl install console handlers at import
    from absl import logging as absl_logging

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    for lib in ("tensorflow", "absl", "apache_beam", "mlflow", "alembic"):
        lg = logging.getLogger(lib)
        lg.handlers.clear()
        lg.propagate = True
    absl_logging.set_verbosity(absl_logging.INFO)
    root.setLevel(logging.INFO)
    path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        fh = logging.FileHandler(path)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)
    if not any(getattr(h, "_edgeflow_console", False) for h in CONSOLE.handlers):
        ch = logging.StreamHandler(sys.stdout)
        ch.setFormatter(logging.Formatter("%(message)s"))
        ch._edgeflow_console = True
        CONSOLE.addHandler(ch)
    CONSOLE.setLevel(logging.INFO)
    return path
