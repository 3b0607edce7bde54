"""A stopped run ends FAILED and stays FAILED, whatever ends the process: the embedded MLflow store."""
import subprocess
import sys
import textwrap

import mlflow
import pytest

from edgeflow.config import load_config
from edgeflow.pipelines.tracking import runs
from edgeflow.pipelines.tracking.runs import tracked_run


@pytest.fixture()
def cfg(tmp_path):
    return load_config("image", "tiny", updates={"output": str(tmp_path)})


def _status(cfg, run_id):
    return mlflow.tracking.MlflowClient(cfg.tracking_uri).get_run(run_id)


def test_a_stop_with_a_child_open_ends_both_failed_and_leaves_no_run_open(cfg):
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(cfg) as run:
            child = mlflow.start_run(run_name="train", nested=True)
            raise KeyboardInterrupt("stopped by SIGTERM")
    assert mlflow.active_run() is None  # nothing left for MLflow's exit hook to end FINISHED
    parent = _status(cfg, run.info.run_id)
    assert parent.info.status == "FAILED" and parent.data.tags["error"] == "stopped by SIGTERM"
    assert _status(cfg, child.info.run_id).info.status == "FAILED"


def test_a_stop_while_the_params_are_written_ends_the_run_failed(cfg, monkeypatch):
    def stopped():
        raise KeyboardInterrupt("stopped by SIGTERM")

    monkeypatch.setattr(runs, "git_commit", stopped)
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(cfg):
            pass
    assert mlflow.active_run() is None
    client = mlflow.tracking.MlflowClient(cfg.tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.experiment).experiment_id])
    assert run.info.status == "FAILED"


def test_a_run_failed_from_outside_is_never_ended_finished(cfg):
    with tracked_run(cfg) as run:  # e.g. the reaper of another process marked it FAILED meanwhile
        mlflow.tracking.MlflowClient(cfg.tracking_uri).set_terminated(run.info.run_id, "FAILED")
    assert _status(cfg, run.info.run_id).info.status == "FAILED"


def test_a_process_that_exits_with_its_run_open_leaves_it_failed_not_finished(cfg):
    # A SIGTERM's KeyboardInterrupt that lands between the generator's yield and the `with` body
    # leaves tracked_run suspended: MLflow's own exit hook then ended the run FINISHED.
    script = textwrap.dedent(f"""
        import sys
        from edgeflow.config import load_config
        from edgeflow.pipelines.tracking.runs import tracked_run
        cfg = load_config("image", "tiny", updates={{"output": {str(cfg.output_dir)!r}}})
        held = tracked_run(cfg)
        print(held.__enter__().info.run_id, flush=True)
        sys.exit(130)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert _status(cfg, proc.stdout.split()[-1]).info.status == "FAILED"


def test_the_next_run_marks_a_run_killed_with_sigkill_failed(cfg):
    # SIGKILL gives `edgeflow run` no chance to end its run: the next run on the folder, under the lock, does.
    client = mlflow.tracking.MlflowClient(cfg.tracking_uri)
    exp = client.create_experiment(cfg.experiment, (cfg.output_dir / "mlartifacts" / cfg.experiment).as_uri())
    killed = client.create_run(exp).info.run_id
    bad = cfg.output_dir / "bad"
    for c in ("a", "b"):
        (bad / c).mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "edgeflow.pipelines.cli", "run", "image", "--preset", "tiny",
                           "--output", str(cfg.output_dir), "--data", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    run = client.get_run(killed)
    assert run.info.status == "FAILED" and "killed" in run.data.tags["error"]
