"""The YOLO loss: localization + objectness + classification, summed over the grid.

For y_true (targets from ``targets.encode_targets``) and y_pred (raw head outputs), both
(B, S, S, A, 5 + C), per image, with obj = 1 at the positives (a box's centre cell and its two
nearest neighbour cells, every anchor within the shape ratio) and 0 elsewhere:

    box  = λ_coord · Σ_obj [ 1 - CIoU(box̂, box) ]                                box_loss="ciou" (default)
           λ_coord · Σ_obj [ 1 - IoU(box̂, box) ]                                 box_loss="iou"
           λ_coord · Σ_obj [ (x̂ - x)² + (ŷ - y)² + (√ŵ - √w)² + (√ĥ - √h)² ]    box_loss="sqrt"
    obj  = Σ_obj BCE(IoU*, ô) + λ_noobj · Σ_noobj BCE(0, ô)
    cls  = Σ_obj CE(class (label-smoothed), softmax(logits))

IoU* is the IoU of the predicted box with its target, clipped at 0 and detached (YOLOv3-v5): the
objectness then scores how well the box fits, which is what NMS and mAP@0.5:0.95 rank by.
The box coding is YOLOv5's (``edgeflow.edge.detection``): x̂ = 2·sigmoid(tx) - 0.5 cells from the
cell's corner, ŵ = anchor · (2·sigmoid(tw))². The sum over the grid keeps one image's loss
independent of how many empty cells it has (λ_noobj weighs those). :meth:`YoloLoss.part_metrics`
gives the three parts as Keras metrics, so each is logged per epoch.

A feature-pyramid model has one loss per scale (its own anchors), summed by Keras; ``obj_balance``
weighs that scale's objectness part (YOLOv5's per-scale balance), and the parts are logged per scale
(``raw_grid_0_box_loss``, ...).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from edgeflow.config import BOX_LOSSES

keras = tf.keras
BOX_CODING = "yolov5"  # decode_xywh's coding, as edgeflow.edge.detection names it in the model info


def decode_xywh(raw: tf.Tensor, anchors: tf.Tensor):
    """raw (..., A, ≥4) -> (xy in cell units from the cell's corner (..., A, 2), wh of image (..., A, 2))."""
    xy = 2.0 * tf.sigmoid(raw[..., 0:2]) - 0.5
    wh = anchors * tf.square(2.0 * tf.sigmoid(raw[..., 2:4]))
    return xy, wh


def box_iou_xywh(xy1, wh1, xy2, wh2, grid: int, ciou: bool = False) -> tf.Tensor:
    """IoU (or CIoU) of boxes given as centre in cell units (…, 2) and size of the image (…, 2), same cell.

    CIoU = IoU - ρ²/c² - α·v: ρ the distance of the centres, c the diagonal of the smallest box
    holding both, v = 4/π² (atan(w/h) - atan(ŵ/ĥ))² the aspect mismatch, α = v / (1 - IoU + v).
    """
    c1, c2 = xy1 / grid, xy2 / grid
    lo = tf.maximum(c1 - wh1 / 2, c2 - wh2 / 2)
    hi = tf.minimum(c1 + wh1 / 2, c2 + wh2 / 2)
    inter = tf.reduce_prod(tf.maximum(hi - lo, 0.0), -1)
    union = tf.reduce_prod(wh1, -1) + tf.reduce_prod(wh2, -1) - inter
    iou = inter / tf.maximum(union, 1e-9)
    if not ciou:
        return iou
    outer = tf.maximum(c1 + wh1 / 2, c2 + wh2 / 2) - tf.minimum(c1 - wh1 / 2, c2 - wh2 / 2)
    rho2 = tf.reduce_sum(tf.square(c1 - c2), -1)
    diag2 = tf.reduce_sum(tf.square(outer), -1) + 1e-9
    v = (4.0 / math.pi ** 2) * tf.square(tf.atan(wh2[..., 0] / tf.maximum(wh2[..., 1], 1e-9))
                                         - tf.atan(wh1[..., 0] / tf.maximum(wh1[..., 1], 1e-9)))
    alpha = tf.stop_gradient(v / tf.maximum(1.0 - iou + v, 1e-9))
    return iou - rho2 / diag2 - alpha * v


class YoloLoss(keras.losses.Loss):
    """Per-image YOLO loss (see the module docstring); Keras averages it over the batch."""

    def __init__(self, anchors, lambda_coord: float = 5.0, lambda_noobj: float = 0.5, box_loss: str = "ciou",
                 label_smoothing: float = 0.0, obj_balance: float = 1.0, name: str = "yolo_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
        if lambda_coord < 0 or lambda_noobj < 0:
            raise ValueError("lambda_coord and lambda_noobj must be at least 0")
        if not 0 <= label_smoothing < 1:
            raise ValueError("label_smoothing must be in [0, 1)")
        if obj_balance <= 0:
            raise ValueError("obj_balance must be above 0")
        self.obj_balance = float(obj_balance)
        self.anchors = anchors
        self.lambda_coord, self.lambda_noobj, self.box_loss = lambda_coord, lambda_noobj, box_loss
        self.label_smoothing = label_smoothing

    def parts(self, y_true, y_pred):
        """(box, obj, cls), each (B,): the three parts of the loss per image, weighted."""
        y_true = tf.cast(y_true, y_pred.dtype)
        obj = y_true[..., 4]  # (B, S, S, A)
        pred_xy, pred_wh = decode_xywh(y_pred, tf.constant(self.anchors))
        true_xy, true_wh = y_true[..., 0:2], y_true[..., 2:4]
        grid = int(y_pred.shape[1])
        iou = box_iou_xywh(pred_xy, pred_wh, true_xy, true_wh, grid, ciou=self.box_loss == "ciou")
        if self.box_loss == "sqrt":
            coord = (tf.reduce_sum(tf.square(pred_xy - true_xy), -1)
                     + tf.reduce_sum(tf.square(tf.sqrt(pred_wh) - tf.sqrt(true_wh)), -1))
        else:
            coord = 1.0 - iou
        obj_target = obj * tf.stop_gradient(tf.clip_by_value(iou, 0.0, 1.0))
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=obj_target, logits=y_pred[..., 4])
        classes = y_true[..., 5:]
        if self.label_smoothing:
            classes = classes * (1.0 - self.label_smoothing) + self.label_smoothing / int(y_pred.shape[-1] - 5)
        ce = tf.nn.softmax_cross_entropy_with_logits(labels=classes, logits=y_pred[..., 5:])
        axes = [1, 2, 3]
        return (tf.reduce_sum(obj * self.lambda_coord * coord, axes),
                self.obj_balance * tf.reduce_sum(obj * bce + (1.0 - obj) * self.lambda_noobj * bce, axes),
                tf.reduce_sum(obj * ce, axes))

    def call(self, y_true, y_pred):
        box, objectness, cls = self.parts(y_true, y_pred)
        return box + objectness + cls

    def part_metrics(self):
        """Three Keras metric functions, ``box_loss``, ``obj_loss`` and ``cls_loss`` (per image, weighted)."""
        def part(i, name):
            fn = lambda y_true, y_pred: self.parts(y_true, y_pred)[i]  # noqa: E731
            fn.__name__ = name
            return fn
        return [part(0, "box_loss"), part(1, "obj_loss"), part(2, "cls_loss")]

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.reshape(-1).tolist(),
                "lambda_coord": self.lambda_coord, "lambda_noobj": self.lambda_noobj, "box_loss": self.box_loss,
                "label_smoothing": self.label_smoothing, "obj_balance": self.obj_balance}
