"""The YOLO loss: localization + objectness + classification, summed over the grid.

For y_true (targets from ``yolo_targets.encode_targets``) and y_pred (raw head outputs),
both (B, S, S, A, 5 + C), per image:

    λ_coord · Σ_obj [ (x̂ - x)² + (ŷ - y)² + (√ŵ - √w)² + (√ĥ - √h)² ]     box_loss="sqrt"
    λ_coord · Σ_obj [ 1 - IoU(box̂, box) ]                                   box_loss="iou"
  + Σ_obj BCE(1, ô) + λ_noobj · Σ_noobj BCE(0, ô)
  + Σ_obj CE(class, softmax(logits))

with x̂ = sigmoid(tx), ŵ = anchor_w · exp(tw), ô = sigmoid(to). The sum over the grid keeps the
loss of one image independent of how many empty cells it has (λ_noobj weighs those).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from edgeflow.config import BOX_LOSSES

keras = tf.keras
MAX_LOG_SCALE = 6.0  # exp(tw) is clipped here so an early wild prediction cannot overflow


def decode_xywh(raw: tf.Tensor, anchors: tf.Tensor):
    """raw (..., A, ≥4) -> (xy in cell (..., A, 2), wh of image (..., A, 2))."""
    xy = tf.sigmoid(raw[..., 0:2])
    wh = anchors * tf.exp(tf.clip_by_value(raw[..., 2:4], -MAX_LOG_SCALE, MAX_LOG_SCALE))
    return xy, wh


def box_iou_xywh(xy1, wh1, xy2, wh2, grid: int) -> tf.Tensor:
    """IoU of boxes given as centre in cell (…, 2) and size of the image (…, 2), in the same cell."""
    c1, c2 = xy1 / grid, xy2 / grid
    lo = tf.maximum(c1 - wh1 / 2, c2 - wh2 / 2)
    hi = tf.minimum(c1 + wh1 / 2, c2 + wh2 / 2)
    inter = tf.reduce_prod(tf.maximum(hi - lo, 0.0), -1)
    union = tf.reduce_prod(wh1, -1) + tf.reduce_prod(wh2, -1) - inter
    return inter / tf.maximum(union, 1e-9)


class YoloLoss(keras.losses.Loss):
    """Per-image YOLO loss (see the module docstring); Keras averages it over the batch."""

    def __init__(self, anchors, lambda_coord: float = 5.0, lambda_noobj: float = 0.5, box_loss: str = "sqrt",
                 name: str = "yolo_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
        if lambda_coord < 0 or lambda_noobj < 0:
            raise ValueError("lambda_coord and lambda_noobj must be at least 0")
        self.anchors = anchors
        self.lambda_coord, self.lambda_noobj, self.box_loss = lambda_coord, lambda_noobj, box_loss

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, y_pred.dtype)
        obj = y_true[..., 4]  # (B, S, S, A)
        pred_xy, pred_wh = decode_xywh(y_pred, tf.constant(self.anchors))
        true_xy, true_wh = y_true[..., 0:2], y_true[..., 2:4]
        if self.box_loss == "sqrt":
            coord = (tf.reduce_sum(tf.square(pred_xy - true_xy), -1)
                     + tf.reduce_sum(tf.square(tf.sqrt(pred_wh) - tf.sqrt(true_wh)), -1))
        else:
            coord = 1.0 - box_iou_xywh(pred_xy, pred_wh, true_xy, true_wh, grid=int(y_pred.shape[1]))
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=obj, logits=y_pred[..., 4])
        ce = tf.nn.softmax_cross_entropy_with_logits(labels=y_true[..., 5:], logits=y_pred[..., 5:])
        per_cell = (obj * (self.lambda_coord * coord + bce + ce)
                    + (1.0 - obj) * self.lambda_noobj * bce)  # (B, S, S, A)
        return tf.reduce_sum(per_cell, axis=[1, 2, 3])

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.reshape(-1).tolist(),
                "lambda_coord": self.lambda_coord, "lambda_noobj": self.lambda_noobj, "box_loss": self.box_loss}
