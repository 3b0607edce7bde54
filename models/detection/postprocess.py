"""YOLO post-processing in TensorFlow, for the serving signature: decode + class-aware NMS.

The NumPy twin for devices is ``edgeflow.edge.detection`` (same formulas; tests compare them).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from edgeflow.models.detection.loss import decode_xywh


def decode(raw: tf.Tensor, anchors: tf.Tensor):
    """raw (B, S, S, A, 5 + C) -> boxes (B, S*S*A, 4) x0, y0, x1, y1 in [0, 1]; scores (B, S*S*A, C)."""
    s, a, depth = raw.shape[1], raw.shape[3], raw.shape[4]
    xy, wh = decode_xywh(raw, anchors)  # (B, S, S, A, 2) each
    rows, cols = tf.meshgrid(tf.range(s, dtype=raw.dtype), tf.range(s, dtype=raw.dtype), indexing="ij")
    cell = tf.stack([cols, rows], -1)[None, :, :, None, :]  # (1, S, S, 1, 2) as (x, y)
    centre = (cell + xy) / s
    boxes = tf.clip_by_value(tf.concat([centre - wh / 2, centre + wh / 2], -1), 0.0, 1.0)
    scores = tf.sigmoid(raw[..., 4:5]) * tf.nn.softmax(raw[..., 5:], -1)
    return tf.reshape(boxes, [-1, s * s * a, 4]), tf.reshape(scores, [-1, s * s * a, depth - 5])


def decode_scales(raws, anchors):
    """raw (B, S, S, A, 5 + C) or a list, one per scale (finest first), anchors (A, 2) or (L, A, 2) ->
    boxes (B, N, 4), scores (B, N, C) of every scale."""
    raws = [raws] if isinstance(raws, tf.Tensor) else list(raws)
    anchors = np.asarray(anchors, np.float32).reshape(len(raws), -1, 2)
    decoded = [decode(r, tf.constant(a, r.dtype)) for r, a in zip(raws, anchors)]
    return tf.concat([b for b, _ in decoded], 1), tf.concat([s for _, s in decoded], 1)


def detect(raw, anchors, score_threshold: float, iou_threshold: float, max_detections: int) -> dict:
    """raw (B, S, S, A, 5 + C), or a list of them (one per scale, anchors (L, A, 2)) -> padded detections
    over all scales, best first:
    boxes (B, D, 4), scores (B, D), classes (B, D) int64, num_detections (B,) int32; D = max_detections."""
    boxes, scores = decode_scales(raw, anchors)
    nmsed = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :], scores, max_output_size_per_class=max_detections, max_total_size=max_detections,
        iou_threshold=iou_threshold, score_threshold=score_threshold, pad_per_class=False, clip_boxes=False)
    return {"boxes": nmsed.nmsed_boxes, "scores": nmsed.nmsed_scores,
            "classes": tf.cast(nmsed.nmsed_classes, tf.int64), "num_detections": nmsed.valid_detections}
