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
def test_a_required_lift_the_cnn_misses_blocks_the_push(tmp_path):
    from edgeflow.pipelines.config import load_config
    from edgeflow.pipelines.runner import run_pipeline
    from edgeflow.pipelines.summary import summary_lines

    cfg = load_config("image", "tiny", overrides=["baseline.min_lift=0.5", "train.epochs=2"],
                      updates={"output": str(tmp_path), "tracking": {"enabled": False}})
    outcome = run_pipeline(cfg)
    r = outcome.results
    assert r.baseline["min_lift"] == 0.5 and r.baseline["lift"] < 0.5 and not r.baseline["passed"]
    assert r.blessed is False and r.pushed_path is None
    assert not (cfg.serving_root / cfg.model_name).exists() or not any((cfg.serving_root / cfg.model_name).iterdir())
    assert any("required +0.5000" in line for line in summary_lines(cfg, outcome))
