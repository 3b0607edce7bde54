"""The detection pipeline end to end on a small generated set: mAP, blessing, a served model that finds boxes."""
import json
from pathlib import Path

import numpy as np
import pytest

from edgeflow.pipelines.bundled.canvases import make_canvas

TINY_MIN_MAP50 = 0.7  # the stated bar for the tiny run (the default set is measured in BENCHMARKS.md)


@pytest.mark.e2e
@pytest.mark.slow
def test_tiny_detection_run_reaches_map_and_is_blessed(tiny_detection_run):
    cfg, outcome = tiny_detection_run
    r = outcome.results
    assert r.example_counts["train"] > r.example_counts["eval"] > 0
    assert r.metrics["map50"] >= TINY_MIN_MAP50, r.metrics
    assert 0 < r.metrics["map50_95"] <= r.metrics["map50"]
    assert r.blessed is True and r.pushed_path
    assert (Path(r.evaluation_uri) / "predictions.png").stat().st_size > 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(cfg.tracking_uri)
    parent = client.get_run(outcome.mlflow_run_id)
    assert parent.data.metrics["eval.map50"] == pytest.approx(r.metrics["map50"])
    assert "eval.map50_95" in parent.data.metrics
    (evaluate,) = client.search_runs([parent.info.experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.`edgeflow.step` = 'evaluate'"))
    assert any(k.startswith("ap50.") for k in evaluate.data.metrics)  # per-class AP
    assert "predictions.png" in [a.path for a in client.list_artifacts(evaluate.info.run_id)]
    # the training skeleton's diagnostics reach MLflow for detection too
    assert {"gradient_health", "dead_units", "overfitting"} <= set(r.diagnostics)
    assert parent.data.tags["diagnostics.dead_units"] == r.diagnostics["dead_units"]["message"]
    assert "diagnostics.gradient_health.flagged" in parent.data.metrics
    report = json.loads((cfg.output_dir / cfg.name / "label_report.json").read_text())
    assert report["format"] == "yolo" and report["bad_files"] == 0 and report["images"] == cfg.detection.num_images


@pytest.mark.e2e
@pytest.mark.slow
def test_pushed_detector_returns_boxes_for_an_encoded_image(tiny_detection_run):
    import io

    import tensorflow as tf
    from PIL import Image
    from sklearn.datasets import load_digits

    cfg, outcome = tiny_detection_run
    digits = load_digits()
    canvas, rows = make_canvas(np.random.default_rng(123), digits.images, digits.target, cfg.detection)
    buf = io.BytesIO()
    Image.fromarray(canvas, mode="L").save(buf, format="PNG")
    serve = tf.saved_model.load(outcome.results.pushed_path).signatures["serving_default"]
    out = serve(image_bytes=tf.constant([buf.getvalue()]))
    n = int(out["num_detections"][0])
    assert out["boxes"].shape == (1, cfg.detection.max_detections, 4) and n >= 1
    boxes, classes = out["boxes"][0, :n].numpy(), out["classes"][0, :n].numpy()
    assert np.all((boxes >= 0) & (boxes <= 1)) and np.all(boxes[:, 2:] > boxes[:, :2])
    assert out["class_names"][0, 0].numpy().decode() == str(classes[0])
    # The best detection lies on one of the digits drawn (IoU > 0.3 with its true box).
    cls, cx, cy, w, h = max(rows, key=lambda r: _iou(boxes[0], r[1:]))
    assert _iou(boxes[0], (cx, cy, w, h)) > 0.3


def _iou(xyxy, cxcywh):
    cx, cy, w, h = cxcywh
    x0, y0, x1, y1 = max(xyxy[0], cx - w / 2), max(xyxy[1], cy - h / 2), min(xyxy[2], cx + w / 2), min(xyxy[3], cy + h / 2)
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    return inter / ((xyxy[2] - xyxy[0]) * (xyxy[3] - xyxy[1]) + w * h - inter)
