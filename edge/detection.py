"""YOLO post-processing in NumPy: decode the raw grid, class-aware NMS. Imports no TensorFlow.

This is what runs on a device after the TFLite interpreter (the .tflite graph ends at the
raw grid, so it stays free of NMS and fully int8-quantizable); the serving signature does the
same in TensorFlow (``edgeflow.models.detection.postprocess``), and the tests hold the two together.
Boxes are ``(x0, y0, x1, y1)`` fractions of the image.

Box coding ``"yolov5"`` (what edgeflow trains): centre = (cell + 2·sigmoid(tx, ty) - 0.5) / S, so a cell
can place a centre up to half a cell into its neighbours (which are positives in training too), and
size = anchor · (2·sigmoid(tw, th))², bounded to (0, 4) anchors. ``"yolov2"`` (models exported before
it): centre = (cell + sigmoid) / S, size = anchor · exp(tw, th).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LOG_SCALE = 6.0  # yolov2 coding: exp(tw) is clipped
BOX_CODINGS = ("yolov5", "yolov2")


@dataclass
class Detections:
    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1 in [0, 1]
    scores: np.ndarray  # (N,)
    classes: np.ndarray  # (N,) int


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode_xywh(raw: np.ndarray, anchors: np.ndarray, box_coding: str = "yolov5"):
    """raw (..., A, >=4) -> (xy in cell units from the cell's corner (..., A, 2), wh of image (..., A, 2))."""
    if box_coding == "yolov5":
        return 2.0 * sigmoid(raw[..., 0:2]) - 0.5, anchors * (2.0 * sigmoid(raw[..., 2:4])) ** 2
    if box_coding == "yolov2":
        return sigmoid(raw[..., 0:2]), anchors * np.exp(np.clip(raw[..., 2:4], -MAX_LOG_SCALE, MAX_LOG_SCALE))
    raise ValueError(f"box_coding must be one of {BOX_CODINGS}, got {box_coding!r}")


def decode(raw: np.ndarray, anchors: np.ndarray, box_coding: str = "yolov5"):
    """raw (S, S, A, 5 + C), anchors (A, 2) -> boxes (S*S*A, 4), class scores (S*S*A, C) = obj * p(class)."""
    s, _, a, _ = raw.shape
    raw = raw.astype(np.float32)
    rows, cols = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    xy, wh = decode_xywh(raw, np.asarray(anchors, np.float32).reshape(-1, 2), box_coding)  # (S, S, A, 2) each
    cx, cy = (cols[..., None] + xy[..., 0]) / s, (rows[..., None] + xy[..., 1]) / s
    w, h = wh[..., 0], wh[..., 1]
    boxes = np.clip(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1), 0.0, 1.0)
    logits = raw[..., 5:] - raw[..., 5:].max(-1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    scores = sigmoid(raw[..., 4:5]) * probs
    return boxes.reshape(-1, 4), scores.reshape(s * s * a, -1)


def decode_scales(raws, anchors, box_coding: str = "yolov5"):
    """One grid (S, S, A, 5 + C) or a list of them, one per scale, with anchors (A, 2) or (L, A, 2) ->
    boxes (N, 4), class scores (N, C) of every scale, finest first."""
    raws = [raws] if isinstance(raws, np.ndarray) else list(raws)
    anchors = np.asarray(anchors, np.float32).reshape(len(raws), -1, 2)
    decoded = [decode(r, a, box_coding) for r, a in zip(raws, anchors)]
    return np.concatenate([b for b, _ in decoded]), np.concatenate([s for _, s in decoded])


def grid_outputs(outputs: dict) -> list:
    """A model's named raw outputs -> its grids, finest first: ``raw_grid`` alone, or ``raw_grid_0``, ..."""
    if "raw_grid" in outputs:
        return [outputs["raw_grid"]]
    names = sorted((k for k in outputs if k.startswith("raw_grid_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    if not names:
        raise ValueError(f"the model's outputs {sorted(outputs)} hold no raw_grid; export the detector again")
    return [outputs[k] for k in names]


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) with boxes (N, 4) -> (N,)."""
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), -1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), -1)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS for one class: indices of kept boxes, best first."""
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(best)
        order = order[iou(boxes[best], boxes[order]) <= iou_threshold]
    return np.asarray(keep, int)


def detect(raw: np.ndarray, anchors: np.ndarray, score_threshold: float = 0.25, iou_threshold: float = 0.45,
           max_detections: int = 20, box_coding: str = "yolov5") -> Detections:
    """One image's raw grid (S, S, A, 5 + C), or its list of grids (one per scale, finest first, with anchors
    (L, A, 2)) -> its detections, class-aware NMS over all scales together, best first.

    Like ``tf.image.combined_non_max_suppression``: every (box, class) pair above the score
    threshold is a candidate, and boxes suppress each other only within a class.
    """
    boxes, scores = decode_scales(raw, anchors, box_coding)
    found = []
    for c in range(scores.shape[1]):
        idx = np.nonzero(scores[:, c] > score_threshold)[0]
        for i in idx[nms(boxes[idx], scores[idx, c], iou_threshold)]:
            found.append((scores[i, c], i, c))
    found.sort(key=lambda t: -t[0])
    found = found[:max_detections]
    return Detections(np.array([boxes[i] for _, i, _ in found], np.float32).reshape(-1, 4),
                      np.array([s for s, _, _ in found], np.float32), np.array([c for _, _, c in found], int))
