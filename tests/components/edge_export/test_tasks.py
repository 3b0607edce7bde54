"""The task plug-ins of EdgeExport: metrics, the policy's degradation, the model-info contract, the wrap."""
import numpy as np
import pytest

from edgeflow.components.edge_export.report import choose_variant
from edgeflow.components.edge_export.tasks import accuracy, classification_task, detection_task, forecast_task, mae


def test_degradation_is_points_for_accuracy_and_relative_for_mae():
    cls = classification_task(["a", "b"], "pixels / 255")
    fc = forecast_task(48, 3, ["temp", "wind"], "temp")
    assert cls.degradation(0.97, 0.98) == pytest.approx(0.01)  # one point dropped
    assert cls.degradation(0.99, 0.98) < 0
    assert fc.degradation(1.1, 1.0) == pytest.approx(0.10)  # MAE 10 % higher
    assert fc.degradation(0.9, 1.0) < 0


def test_metrics():
    assert accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == 0.5
    assert mae(np.array([[1.0, 2.0]]), np.array([[2.0, 4.0]])) == 1.5


def test_forecast_policy_ships_the_smallest_within_the_relative_mae_budget():
    row = lambda size, deg: {"size_bytes": size, "degradation": deg, "edgetpu_compatible": False}  # noqa: E731
    rows = {"float32": row(1000, 0.0), "float16": row(500, 0.004), "int8": row(300, 12.8)}
    assert choose_variant(rows, "cpu", 0.01) == "float16"
    assert choose_variant(rows, "cpu", 20.0) == "int8"


def test_model_info_sections_follow_the_device_contract():
    fc = forecast_task(48, 3, ["temp"], "temp")
    assert fc.kind == "forecast" and fc.info == {"forecast": {"window": 48, "horizon": 3, "features": ["temp"],
                                                              "target": "temp"}}
    det = detection_task(["0", "1"], [[0.1, 0.2], [0.3, 0.4]], 8, 0.25, 0.45, 20, "pixels / 255")
    assert det.kind == "detection" and det.info["labels"] == ["0", "1"]
    assert det.info["detection"] == {"anchors": [[0.1, 0.2], [0.3, 0.4]], "grid": 8, "score_threshold": 0.25,
                                     "iou_threshold": 0.45, "max_detections": 20, "box_coding": "yolov5"}


def test_detection_metric_scores_a_grid_that_marks_the_truth():
    """A raw grid with one confident, well-placed box per image gives mAP@0.5 of 1."""
    anchors = np.array([[0.25, 0.25]], np.float32)
    raw = np.full((1, 4, 4, 1, 7), -10.0, np.float32)  # (N, S, S, A, 5 + C), C = 2
    raw[0, 1, 2, 0, :4] = 0.0  # centre of cell (row 1, col 2), anchor-sized
    raw[0, 1, 2, 0, 4], raw[0, 1, 2, 0, 6] = 10.0, 10.0  # object, class 1
    truth = ([np.array([[(2 + 0.5) / 4, (1 + 0.5) / 4, 0.25, 0.25]], np.float32)], [np.array([1])])
    task = detection_task(["a", "b"], anchors, 4, 0.25, 0.45, 20, "pixels / 255")
    assert task.metric(raw, truth) == pytest.approx(1.0)
    raw[0, 1, 2, 0, 5], raw[0, 1, 2, 0, 6] = 10.0, -10.0  # same box, wrong class
    assert task.metric(raw, truth) == pytest.approx(0.0)


def test_wrap_takes_raw_windows_and_answers_in_target_units():
    import tensorflow as tf

    from edgeflow.components.edge_export.variants import raw_inputs, wrap_standardization

    inputs = tf.keras.Input((4, 2))
    bare = tf.keras.Model(inputs, tf.keras.layers.Lambda(lambda w: w[:, -1, :1])(inputs))  # last standardized value
    wrap = {"mean": [10.0, -1.0], "std": [2.0, 0.5], "output_scale": 2.0, "output_offset": 10.0}
    raw = np.random.default_rng(0).normal(10, 2, (3, 4, 2)).astype(np.float32)
    out = wrap_standardization(bare, wrap).predict(raw, verbose=0)
    np.testing.assert_allclose(out[:, 0], raw[:, -1, 0], atol=1e-4)  # standardize, then back: the raw value
    standardized = (raw - [10.0, -1.0]) / [2.0, 0.5]
    np.testing.assert_allclose(raw_inputs(standardized.astype(np.float32), wrap), raw, atol=1e-5)
