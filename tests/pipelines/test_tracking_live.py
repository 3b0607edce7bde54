"""The record a pipeline writes from inside: epochs appear in MLflow while the Trainer still runs.

The skeleton's live tracking on tiny in-memory data (an embedded store; seconds), then one e2e
pipeline run against a real `mlflow server` on loopback for everything that needs TFX: the live
epochs, and the whole record the run leaves (params, tags, child runs, artifacts, registry, the
`edgeflow models` listing)."""
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pandas as pd
import pytest

from edgeflow.config import DiagnosticsConfig, load_config
from edgeflow.models.training.live_tracking import EXPERIMENT_KIND, RUN_ID_TAG
from edgeflow.models.training.skeleton import train as train_model
from edgeflow.pipelines.tracking.runs import fingerprint
from tests.models.training.test_callbacks import KilledAfter
from tests.models.training.test_skeleton import _train_cfg, image_task, no_export
from tests.mlflow_server import free_port


def tracked_fn_args(tmp_path, uri: str, run_id: str = "2026-12-01T20:00:00.000001"):
    run = tmp_path / "run"
    return SimpleNamespace(model_run_dir=str(run / "model_run"), serving_model_dir=str(run / "serving"),
                           base_model=None, custom_config={
                               "train": {"epochs": 4}, RUN_ID_TAG: run_id,
                               "tracking": {"enabled": True, "uri": uri, "experiment": "live", "pipeline": "image"}})


def test_a_killed_training_shows_the_epochs_it_finished(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = tracked_fn_args(tmp_path, uri)
    with pytest.raises(KeyboardInterrupt):
        train_model(no_export(image_task()), args, _train_cfg(epochs=4), DiagnosticsConfig(probe_size=8),
                    callbacks=[KilledAfter(2)])
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("live")
    assert {k: exp.tags.get(k) for k in EXPERIMENT_KIND} == EXPERIMENT_KIND
    [parent] = client.search_runs([exp.experiment_id], "tags.`edgeflow.parent_created_by` = 'train'")
    assert parent.data.tags[RUN_ID_TAG] == args.custom_config[RUN_ID_TAG] and parent.info.status == "FINISHED"
    [child] = client.search_runs([exp.experiment_id], "tags.`edgeflow.step` = 'train'")
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    for key in ("loss", "val_loss", "accuracy", "lr"):
        assert [m.step for m in client.get_metric_history(child.info.run_id, key)] == [1, 2], key
    assert child.data.params["train.epochs"] == "4"
    assert "diagnostics.gradient_health.flagged" in child.data.metrics
    assert "diagnostics/diagnostics.json" in {a.path for a in client.list_artifacts(child.info.run_id, "diagnostics")}


def test_a_tracking_store_that_is_down_never_fails_training(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    args = tracked_fn_args(tmp_path, f"http://127.0.0.1:{free_port()}")
    with caplog.at_level(logging.WARNING, logger="edgeflow.train"):
        model = train_model(no_export(image_task()), args, _train_cfg(epochs=3), DiagnosticsConfig(enabled=False))
    assert model is not None and (tmp_path / "run" / "model_run" / "history.json").exists()
    warnings = [r.getMessage() for r in caplog.records if "MLflow" in r.getMessage()]
    assert len(warnings) == 1 and "the step itself goes on" in warnings[0]


def poll(what: str, fn, thread: threading.Thread, seconds: float = 900):
    """fn()'s first truthy value; fails when the pipeline thread ends first or the deadline passes."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        assert thread.is_alive(), f"the pipeline ended before {what}"
        time.sleep(0.2)
    raise TimeoutError(what)


@pytest.mark.e2e
@pytest.mark.slow
def test_epochs_are_in_mlflow_while_the_trainer_runs(mlflow_server, tmp_path):
    from edgeflow.pipelines.bundled.digits import write_digits_folder
    from edgeflow.pipelines.runner import run_pipeline

    url, _ = mlflow_server
    epochs = 60  # the tiny model, long enough to be watched; early stopping off
    cfg = load_config("image", "tiny", updates={
        "output": str(tmp_path / "out"), "tracking": {"uri": url},
        "train": {"epochs": epochs, "early_stopping_patience": epochs}, "export": {"variants": "float32"}})
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("run", run_pipeline(cfg)), daemon=True)
    thread.start()
    client = mlflow.tracking.MlflowClient(url)

    def train_child():
        exp = client.get_experiment_by_name(cfg.experiment)
        runs = exp and client.search_runs([exp.experiment_id], "tags.`edgeflow.step` = 'train'")
        return runs[0] if runs else None

    child = poll("a train child run", train_child, thread)
    seen = poll("two epochs", lambda: (h := client.get_metric_history(child.info.run_id, "loss")) and len(h) >= 2 and h,
                thread)
    status = client.get_run(child.info.run_id).info.status
    assert status == "RUNNING", "read after the training ended: not live"  # read after the metrics
    assert [m.step for m in seen][:2] == [1, 2]

    thread.join(timeout=1800)
    run = outcome["run"]
    parent = client.get_run(run.mlflow_run_id)
    assert parent.data.tags[RUN_ID_TAG] == run.results.pipeline_run_id == child.data.tags[RUN_ID_TAG]
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.data.tags["edgeflow.step"] for r in children) == ["data", "evaluate", "push", "train"]
    train = client.get_run(child.info.run_id)
    assert train.info.status == "FINISHED"
    n = len(run.results.history)
    # every epoch once: live from the Trainer, never again from the runner
    for key in ("loss", "val_loss", "accuracy", "lr"):
        assert [m.step for m in client.get_metric_history(train.info.run_id, key)] == list(range(1, n + 1)), key
    assert train.data.metrics["epochs_run"] == n
    assert train.data.params["train.epochs"] == str(epochs) and train.data.params["model.filters"] == "8"
    assert "training_curves.png" in {a.path for a in client.list_artifacts(train.info.run_id)}
    assert train.data.tags["tensorboard.logdir"].endswith("tensorboard")

    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert parent.data.params["train.epochs"] == str(epochs)
    assert int(tags["mlmd.execution_id.Trainer"]) == run.results.execution_ids["Trainer"]
    assert len(tags["git_commit"]) >= 7 and tags["blessed"] == "true"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"config.yaml", "logs"}

    exp = client.get_experiment(parent.info.experiment_id)
    assert {k: exp.tags.get(k) for k in EXPERIMENT_KIND} == EXPERIMENT_KIND
    steps = {r.data.tags["edgeflow.step"]: r for r in children}
    data = steps["data"]
    assert data.data.metrics["examples.train"] == run.results.example_counts["train"]
    [dataset] = [d.dataset for d in data.inputs.dataset_inputs]
    assert dataset.digest == fingerprint(run.results.input_base) == tags["data.fingerprint"]
    # the same digits written into another folder: the same fingerprint (content, not location)
    assert fingerprint(str(write_digits_folder(tmp_path / "again", 30))) == tags["data.fingerprint"]
    assert '"train": %d' % run.results.example_counts["train"] in dataset.profile
    assert "image_raw" in dataset.schema  # the column TFX inferred
    artifacts = {step: {a.path for a in client.list_artifacts(r.info.run_id)} for step, r in steps.items()}
    assert {"schema.pbtxt", "anomalies.txt"} <= artifacts["data"]
    assert {"confusion_matrix.png", "eval_metrics.json", "per_class.csv"} <= artifacts["evaluate"]
    assert steps["evaluate"].data.metrics["accuracy"] == pytest.approx(run.results.metrics["accuracy"])

    mlflow.set_tracking_uri(url)
    champion = client.get_model_version_by_alias(cfg.model_name, "champion")
    assert champion.run_id == parent.info.run_id
    assert mlflow.models.get_model_info(f"models:/{cfg.model_name}@champion").saved_input_example_info is not None
    model = mlflow.pyfunc.load_model(f"models:/{cfg.model_name}@champion")
    png = sorted(Path(run.results.input_base).rglob("*.png"))[0]
    scored = model.predict(pd.DataFrame({"image_bytes": [png.read_bytes()]}))
    assert len(scored["probabilities"][0]) == 10 and scored["class_name"][0] in [str(d) for d in range(10)]
    listing = subprocess.run([sys.executable, "-m", "edgeflow.pipelines.cli", "models", cfg.model_name,
                              "--tracking-uri", url], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and f"{champion.version}  yes" in listing.stdout


def test_every_trainer_carries_the_tracking_settings_and_gets_the_run_id(tmp_path):
    from edgeflow.components.shared.tracked_trainer import TrackedTrainerExecutor
    from tests.pipelines.test_training_wiring import _pipelines, _trainer

    for task, pipeline in _pipelines(tmp_path, "tracking.uri=http://mlflow.cluster:5000").items():
        trainer = _trainer(pipeline)
        custom = json.loads(trainer.exec_properties["custom_config"])
        assert custom["tracking"] == {"enabled": True, "uri": "http://mlflow.cluster:5000", "experiment": task,
                                      "pipeline": task}, task
        assert trainer.executor_spec.executor_class is TrackedTrainerExecutor, task


def test_a_step_without_a_pipeline_run_id_says_it_records_nothing(monkeypatch, caplog):
    from edgeflow.models.training.live_tracking import TrackingTarget

    monkeypatch.delenv("EDGEFLOW_PIPELINE_RUN_ID", raising=False)
    settings = {"tracking": {"enabled": True, "uri": "http://mlflow.cluster:5000", "pipeline": "image"}}
    with caplog.at_level(logging.WARNING, logger="edgeflow.train"):
        assert TrackingTarget.from_custom_config(settings) is None
    assert "set EDGEFLOW_PIPELINE_RUN_ID" in caplog.text
    monkeypatch.setenv("EDGEFLOW_PIPELINE_RUN_ID", "vertex-job-1")
    assert TrackingTarget.from_custom_config(settings).pipeline_run_id == "vertex-job-1"
