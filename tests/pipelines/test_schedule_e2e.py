"""A real scheduler process on a seconds-level cron running the tiny pipeline over two spans,
a second scheduler refused, and a SIGKILLed scheduler that restarts cleanly."""
import glob
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeflow.config import load_config
from edgeflow.pipelines.history import list_runs
from edgeflow.pipelines.locks import is_locked, run_lock_path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _write_span(src: Path, root: Path, span: int, per_class: int):
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        dst = root / f"span-{span}" / cls.name
        dst.mkdir(parents=True)
        for f in sorted(cls.iterdir())[:per_class]:
            shutil.copy(f, dst / f.name)


def _wait(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _mlflow_running(cfg) -> bool:
    import mlflow

    client = mlflow.tracking.MlflowClient(cfg.tracking_uri)
    exp = client.get_experiment_by_name(cfg.experiment)
    return bool(client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'"))


def test_schedule_runs_newest_span_never_overlaps_and_survives_a_kill(tmp_path):
    from edgeflow.pipelines.bundled.digits import write_digits_folder

    src = write_digits_folder(tmp_path / "src", 30)
    spans, out = tmp_path / "spans", tmp_path / "out"
    _write_span(src, spans, 1, 20)
    run_args = ["--preset", "tiny", "--data", str(spans), "--set", "data.pattern=span-{SPAN}/*/*",
                "--set", "pipeline.cache=true", "--set", "export.enabled=false"]  # no edge variants: not what this checks
    cmd = [sys.executable, "-m", "edgeflow.pipelines.cli", "schedule", "--job", "image=* * * * * */2",
           "--output", str(out)]
    sched = subprocess.Popen([*cmd, "--max-runs", "2", "--", *run_args])
    try:
        # Span 2 lands once run 1's ExampleGen has written span 1's examples.
        _wait(lambda: glob.glob(str(out / "image/pipeline_root/ImageFolderExampleGen/examples/*/Split-eval/*")),
              300, "run 1's ExampleGen")
        _write_span(src, spans, 2, 30)
        second = subprocess.run([*cmd, "--", *run_args], capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and "an edgeflow scheduler for" in second.stderr
        assert "is already running" in second.stderr and "Traceback" not in second.stderr
        assert sched.wait(timeout=600) == 0
    finally:
        if sched.poll() is None:
            sched.kill()
    cfg = load_config("image", "tiny", updates={"output": str(out)})
    runs = list_runs(cfg)
    assert [(r.status, r.span) for r in runs] == [("FINISHED", 2), ("FINISHED", 1)]
    newer, older = runs
    assert older.start + older.seconds <= newer.start  # never overlapping

    # A scheduler killed mid-run: its run stops (never left RUNNING) and a new scheduler runs again.
    killed = subprocess.Popen([*cmd, "--max-runs", "1", "--", *run_args])
    _wait(lambda: _mlflow_running(cfg), 180, "the scheduled run's MLflow run")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    _wait(lambda: not is_locked(run_lock_path(cfg)), 120, "the orphaned run to stop")
    restarted = subprocess.run([*cmd, "--max-runs", "1", "--", *run_args], timeout=600)
    assert restarted.returncode == 0
    runs = list_runs(cfg)
    assert runs[0].span == 2
    assert [r.status for r in runs] == ["FINISHED", "FAILED", "FINISHED", "FINISHED"]  # the killed one FAILED
