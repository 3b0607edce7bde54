"""What EdgeExport needs to know about a model's task: its metric, its policy quantity, its model info.

One measurement path serves every pipeline; the task plugs in three things:

==============  ==============================  =================================================
task            metric (on the eval split)      degradation (what ``export.max_metric_change`` bounds)
==============  ==============================  =================================================
classification  accuracy (higher is better)     absolute drop: keras - variant (0.01 = 1 point)
forecast        MAE in target units (lower)     relative increase: (variant - keras) / keras (0.01 = 1 %)
detection       mAP@0.5 (higher is better)      absolute drop: keras - variant (0.01 = 1 point)
==============  ==============================  =================================================

Outputs are what the .tflite returns after dequantization: class probabilities (N, C), forecasts
(N, H) in target units, or raw YOLO grids (N, S, S, A, 5 + C), decoded here with the device's own
NumPy post-processing (:mod:`edgeflow.edge.detection`). Imports no TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Sequence

import numpy as np

TASKS = ("classification", "forecast", "detection")
EVAL_SCORE_THRESHOLD = 0.001  # as the DetectionEvaluator: COCO mAP integrates over the whole PR curve
EVAL_MAX_DETECTIONS = 100


@dataclass(frozen=True)
class EdgeTask:
    """A task's metric and what a device needs beyond the tensors (goes into the model info JSON)."""

    kind: str  # one of TASKS
    metric_name: str  # "accuracy", "mae" or "map50"
    higher_is_better: bool
    metric: Callable[[np.ndarray, Any], float]  # (outputs (N, ...), eval truth) -> metric
    info: Dict[str, Any] = field(default_factory=dict)  # labels / forecast / detection sections
    preprocessing: str = ""  # how a device prepares the input (before int8 quantization)
    meaning: str = ""  # what the output is

    def degradation(self, value: float, keras_value: float) -> float:
        """How much worse than Keras (positive = worse), in the unit ``export.max_metric_change`` uses."""
        if self.higher_is_better:
            return keras_value - value
        return (value - keras_value) / max(abs(keras_value), 1e-12)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """probabilities (N, C), labels (N,) -> top-1 accuracy."""
    return float((np.asarray(probabilities).argmax(-1) == np.asarray(labels)).mean())


def mae(forecasts: np.ndarray, targets: np.ndarray) -> float:
    """forecasts (N, H), targets (N, H), both in target units -> mean absolute error."""
    return float(np.abs(np.asarray(forecasts) - np.asarray(targets)).mean())


def detection_map50(anchors, iou_threshold: float, class_names: Sequence[str]):
    """A metric: raw grids (N, S, S, A, 5 + C), truth (boxes cx, cy, w, h per image, classes per image) -> mAP@0.5."""
    from edgeflow.edge.detection import detect
    from edgeflow.models.detection.metrics import coco_metrics, cxcywh_to_xyxy

    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)

    def metric(raw: np.ndarray, truth) -> float:
        boxes, classes = truth
        found = [detect(r, anchors, EVAL_SCORE_THRESHOLD, iou_threshold, EVAL_MAX_DETECTIONS) for r in raw]
        return float(coco_metrics([cxcywh_to_xyxy(b) for b in boxes], classes, found, list(class_names))["map50"])

    return metric


def image_preprocessing(height: int, width: int, channels: int) -> str:
    return (f"decode, convert to {'grayscale' if channels == 1 else 'RGB'}, resize to {height}x{width} "
            "(bilinear), divide pixels by 255 to [0, 1]")


def classification_task(labels: Sequence[str], preprocessing: str) -> EdgeTask:
    return EdgeTask("classification", "accuracy", True, accuracy, {"labels": list(labels)}, preprocessing,
                    "class probabilities (softmax) in the order of labels")


def forecast_task(window: int, horizon: int, features: Sequence[str], target: str) -> EdgeTask:
    return EdgeTask(
        "forecast", "mae", False, mae,
        {"forecast": {"window": int(window), "horizon": int(horizon), "features": list(features), "target": target}},
        f"the last {window} rows of the raw feature columns {', '.join(features)} in this order, oldest first "
        "(no scaling: the model standardizes with the training statistics itself)",
        f"the next {horizon} values of {target}, in its own units")


def detection_task(labels: Sequence[str], anchors, grid: int, score_threshold: float, iou_threshold: float,
                   max_detections: int, preprocessing: str) -> EdgeTask:
    from edgeflow.models.detection.loss import BOX_CODING

    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    return EdgeTask(
        "detection", "map50", True, detection_map50(anchors, iou_threshold, labels),
        {"labels": list(labels),
         "detection": {"anchors": [[round(float(v), 6) for v in a] for a in anchors], "grid": int(grid),
                       "score_threshold": float(score_threshold), "iou_threshold": float(iou_threshold),
                       "max_detections": int(max_detections), "box_coding": BOX_CODING}},
        preprocessing,
        "raw YOLO grid (S, S, A, 5 + C): tx, ty, tw, th, objectness logit, class logits per cell and anchor; "
        f"decode (box_coding {BOX_CODING}) and NMS with edgeflow.edge.detection.detect(raw, anchors, score_threshold, "
        "iou_threshold, max_detections)")
