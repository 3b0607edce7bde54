"""EdgeExport inside the tiny image pipeline: files, report, shipped model, MLflow."""
import json

import pytest

from edgeflow.edge.runtime import EdgeModel, classify
from edgeflow.edge.tflite_metadata import packed_files

pytestmark = pytest.mark.e2e


def test_blessed_model_leaves_as_measured_tflite(tiny_image_run):
    cfg, outcome = tiny_image_run
    reports = sorted(cfg.pipeline_root.glob("EdgeExport/edge_models/*/report.json"))
    assert reports, "EdgeExport wrote no report"
    folder, report = reports[-1].parent, json.loads(reports[-1].read_text())
    assert set(report["variants"]) == set(cfg.export.variant_names)
    assert report["shipped"] in cfg.export.variant_names
    for split, limit in (("eval", cfg.export.max_eval_examples), ("train", cfg.export.max_train_examples)):
        assert report[f"{split}_examples"] == min(report[f"{split}_split_examples"], limit) > 0
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


def _export_folder(cfg):
    reports = sorted(cfg.pipeline_root.glob("EdgeExport/edge_models/*/report.json"))
    assert reports, "EdgeExport wrote no report"
    return reports[-1].parent, json.loads(reports[-1].read_text())


# Largest |raw grid difference| from Keras (logits) and mAP@0.5 drop allowed per variant.
DETECTION_GRID_TOLERANCE = {"float32": 1e-3, "int8": 2.0}
DETECTION_MAX_MAP_DROP = {"float32": 0.001, "int8": 0.05}


def test_blessed_detector_leaves_as_raw_grid_tflite_scored_by_map(tiny_detection_run):
    from PIL import Image

    from edgeflow.edge.detection import detect
    from edgeflow.edge.runtime import load_image

    cfg, outcome = tiny_detection_run
    folder, report = _export_folder(cfg)
    assert report["task"] == "detection" and report["metric"] == "map50"
    assert report["keras"]["map50"] == pytest.approx(outcome.results.metrics["map50"], abs=1e-6)
    for name, row in report["variants"].items():
        assert "error" not in row, row
        assert row["max_abs_output_diff"] <= DETECTION_GRID_TOLERANCE[name]
        assert row["degradation"] <= DETECTION_MAX_MAP_DROP[name]
    info = json.loads((folder / "int8.json").read_text())
    s, d = cfg.detection.grid, cfg.detection
    assert info["task"] == "detection" and info["input"]["shape"] == [1, d.image_size, d.image_size, d.channels]
    assert info["input"]["dtype"] == "int8" and info["output"]["shape"] == [1, s, s, d.num_anchors, 15]
    assert info["detection"]["grid"] == s and len(info["detection"]["anchors"]) == d.num_anchors
    assert report["variants"]["int8"]["edgetpu_compatible"]
    # the standard TFLite metadata's labels file, packed into the file (tests/edge/test_tflite_metadata.py)
    assert packed_files((folder / "int8.tflite").read_bytes()) == {"labels.txt": "".join(
        f"{name}\n" for name in info["labels"]).encode()}
    # The device path: an image resized and scaled as the info says, the raw grid decoded in NumPy.
    image = next(iter(sorted((cfg.output_dir / "data").rglob("*.png"))))
    x = load_image(image, (d.image_size, d.image_size), d.channels)[None]
    raw = EdgeModel(folder / "int8.tflite").run(x)[0]
    det = info["detection"]
    found = detect(raw, det["anchors"], det["score_threshold"], det["iou_threshold"], det["max_detections"])
    assert len(found.boxes) >= 1 and Image.open(image).size == (d.image_size, d.image_size)
