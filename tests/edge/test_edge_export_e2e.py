"""EdgeExport inside the tiny image pipeline: files, report, shipped model, MLflow."""
import json

import pytest

from edgeflow.edge.runtime import EdgeModel, classify

pytestmark = pytest.mark.e2e


def test_blessed_model_leaves_as_measured_tflite(tiny_image_run):
    cfg, outcome = tiny_image_run
    reports = sorted(cfg.pipeline_root.glob("EdgeExport/edge_models/*/report.json"))
    assert reports, "EdgeExport wrote no report"
    folder, report = reports[-1].parent, json.loads(reports[-1].read_text())
    assert set(report["variants"]) == set(cfg.export.variant_names)
    assert report["shipped"] in cfg.export.variant_names
    for name, row in report["variants"].items():
        assert "error" not in row, row
        assert (folder / f"{name}.tflite").is_file() and (folder / f"{name}.json").is_file()
        assert row["latency_ms_1_thread"]["p50"] > 0
    images = sorted((cfg.output_dir / "data").rglob("*.png"))[:3]
    predictions = classify(EdgeModel(folder / "model.tflite"), images)
    assert [p.label for p in predictions] == [img.parent.name for img in images]

    import mlflow

    mlflow.set_tracking_uri(cfg.tracking_uri)
    run = mlflow.get_run(outcome.mlflow_run_id)
    assert run.data.tags["edge.shipped"] == report["shipped"]
    assert "edge.int8.size_bytes" in run.data.metrics
