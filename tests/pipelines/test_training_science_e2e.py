"""The tiny pipeline run carries the shallow baseline, the lift and the diagnostics into MLflow."""
import json
from pathlib import Path

import pytest


@pytest.mark.e2e
def test_baseline_lift_and_diagnostics_are_in_the_run_record(tiny_image_run):
    from mlflow.tracking import MlflowClient

    cfg, outcome = tiny_image_run
    r = outcome.results
    assert 0.0 < r.baseline["baseline_accuracy"] <= 1.0
    assert r.baseline["lift"] == pytest.approx(r.metrics["accuracy"] - r.baseline["baseline_accuracy"], abs=1e-6)
    on_disk = json.loads((Path(r.model_run_uri) / "diagnostics.json").read_text())
    assert set(on_disk) == {"gradient_health", "dead_units", "overfitting"} == set(r.diagnostics)

    run = MlflowClient(cfg.tracking_uri).get_run(outcome.mlflow_run_id)
    assert run.data.metrics["baseline.lift"] == pytest.approx(r.baseline["lift"])
    assert run.data.metrics["baseline.baseline_accuracy"] == pytest.approx(r.baseline["baseline_accuracy"])
    assert "diagnostics.gradient_health.flagged" in run.data.metrics
    assert run.data.tags["diagnostics.overfitting"] == r.diagnostics["overfitting"]["message"]


@pytest.mark.e2e
@pytest.mark.slow
def test_tuned_run_whose_cnn_misses_the_required_lift_is_not_pushed(tmp_path):
    """One run for two things: the Tuner's best values reach the Trainer, and a missed lift blocks the push."""
    from mlflow.tracking import MlflowClient

    from edgeflow.models.controls import configured_cures
    from edgeflow.models.image.tuner import SEARCH_SPACE, apply_hyperparameters
    from edgeflow.config import load_config
    from edgeflow.pipelines.runner import run_pipeline
    from edgeflow.pipelines.summary import summary_lines

    cfg = load_config("image", "tiny", updates={"output": str(tmp_path)}, overrides=[
        "baseline.min_lift=0.5", "train.epochs=2", "tuning.enabled=true", "tuning.trials=2", "tuning.epochs=1"])
    outcome = run_pipeline(cfg)
    r = outcome.results
    assert set(r.tuned) == set(SEARCH_SPACE)
    assert all(v in SEARCH_SPACE[k] for k, v in r.tuned.items())
    params = MlflowClient(cfg.tracking_uri).get_run(outcome.mlflow_run_id).data.params
    assert params["tuned.activation"] == r.tuned["activation"]
    # the Trainer built the tuned model: the overfitting diagnostic lists the tuned cures
    assert r.diagnostics["overfitting"]["cures"] == configured_cures(apply_hyperparameters(cfg.model, r.tuned))
    assert r.baseline["min_lift"] == 0.5 and r.baseline["lift"] < 0.5 and not r.baseline["passed"]
    assert r.blessed is False and r.pushed_path is None
    # the lift-gated blessing says why: the Evaluator's verdict, then the missed lift
    assert r.blessing_reason.startswith("TFMA's Evaluator ") and "does not beat the shallow model" in r.blessing_reason
    assert not (cfg.serving_root / cfg.model_name).exists() or not any((cfg.serving_root / cfg.model_name).iterdir())
    assert any("required +0.5000" in line for line in summary_lines(cfg, outcome))
