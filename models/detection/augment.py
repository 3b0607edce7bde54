"""Box-aware augmentation of training images (NumPy, HSV through tf.image): zoom/shift/flip, mosaic, HSV.

Images are (H, W, C) float32 in [0, 1] at the training size; boxes are (N, 4) (cx, cy, w, h)
fractions of the image. Every function moves the boxes with the pixels and drops those too little
of which is left, so the targets (models/detection/targets.py) see only objects still in view.
The trainer's batches (``DetectionBatches``) apply, per training image: mosaic (with probability
``augment_mosaic``), then zoom/shift/flip (:func:`augment`); then, per batch, :func:`hsv_jitter`.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

MOSAIC_MIN_SIDE_PX = 2.0  # a mosaic drops a cut box whose width or height left is below this (YOLOv5's)
MOSAIC_MIN_VISIBLE = 0.2  # ... or of whose area less than this share is left


def augment(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, flip: bool, scale: float,
            translate: float, min_visible: float = 0.6) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Random flip, zoom and shift of one image (H, W, C) in [0, 1] and its boxes (N, 4) (cx, cy, w, h).

    Returns (image, boxes, keep): boxes follow the image, are clipped to it, and `keep` marks
    those with at least `min_visible` of their area still inside (the caller drops the rest).
    """
    h, w = image.shape[:2]
    s = rng.uniform(1 - scale, 1 + scale) if scale else 1.0
    dx, dy = (rng.uniform(-translate, translate, 2) if translate else (0.0, 0.0))
    mirror = bool(flip and rng.random() < 0.5)
    # Output pixel u (as a fraction) shows input (u - 0.5 - d) / s + 0.5, mirrored if asked.
    ys = ((np.arange(h) + 0.5) / h - 0.5 - dy) / s + 0.5
    xs = ((np.arange(w) + 0.5) / w - 0.5 - dx) / s + 0.5
    if mirror:
        xs = 1 - xs
    rows, cols = np.floor(ys * h).astype(int), np.floor(xs * w).astype(int)
    inside = (rows[:, None] >= 0) & (rows[:, None] < h) & (cols[None] >= 0) & (cols[None] < w)
    out = image[np.clip(rows, 0, h - 1)][:, np.clip(cols, 0, w - 1)] * inside[..., None]
    b = boxes.astype(np.float32).copy()
    if mirror:
        b[:, 0] = 1 - b[:, 0]
    b[:, 0] = (b[:, 0] - 0.5) * s + 0.5 + dx
    b[:, 1] = (b[:, 1] - 0.5) * s + 0.5 + dy
    b[:, 2:4] *= s
    x0, y0 = np.clip(b[:, 0] - b[:, 2] / 2, 0, 1), np.clip(b[:, 1] - b[:, 3] / 2, 0, 1)
    x1, y1 = np.clip(b[:, 0] + b[:, 2] / 2, 0, 1), np.clip(b[:, 1] + b[:, 3] / 2, 0, 1)
    area = b[:, 2] * b[:, 3]
    clipped = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], 1)
    keep = (clipped[:, 2] * clipped[:, 3]) >= min_visible * np.maximum(area, 1e-12)
    return out.astype(image.dtype), clipped, keep


def mosaic(images: Sequence[np.ndarray], boxes: Sequence[np.ndarray], classes: Sequence[np.ndarray],
           rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four images of one shape (H, W, C) tiled around a random centre into one image of that shape (YOLOv5).

    The centre (xc, yc) is drawn from the middle half of each side; image k fills quadrant k (top-left,
    top-right, bottom-left, bottom-right) at its own scale, showing the part of it that touches the
    centre (the top-left quadrant shows the first image's bottom-right corner, and so on). Boxes move
    with their pixels and are clipped to their quadrant; a clipped box narrower or lower than
    MOSAIC_MIN_SIDE_PX or with less than MOSAIC_MIN_VISIBLE of its area left is dropped. A box fully
    inside its quadrant keeps its size. Returns (image, boxes (M, 4), classes (M,)).
    """
    h, w = images[0].shape[:2]
    xc, yc = int(round(rng.uniform(0.25, 0.75) * w)), int(round(rng.uniform(0.25, 0.75) * h))
    out = np.zeros_like(images[0])
    # (output rows, output cols) of each quadrant; the image part shown is the same size, against the centre.
    quadrants = [((0, yc), (0, xc)), ((0, yc), (xc, w)), ((yc, h), (0, xc)), ((yc, h), (xc, w))]
    kept_boxes, kept_classes = [], []
    for k, ((r0, r1), (c0, c1)) in enumerate(quadrants):
        dy = r0 - (h - yc) if k < 2 else r0  # output row = image row + dy
        dx = c0 - (w - xc) if k % 2 == 0 else c0
        out[r0:r1, c0:c1] = images[k][r0 - dy:r1 - dy, c0 - dx:c1 - dx]
        b = np.asarray(boxes[k], np.float32).reshape(-1, 4) * [w, h, w, h]  # pixels
        x0, x1 = b[:, 0] - b[:, 2] / 2 + dx, b[:, 0] + b[:, 2] / 2 + dx
        y0, y1 = b[:, 1] - b[:, 3] / 2 + dy, b[:, 1] + b[:, 3] / 2 + dy
        x0, x1, y0, y1 = np.clip(x0, c0, c1), np.clip(x1, c0, c1), np.clip(y0, r0, r1), np.clip(y1, r0, r1)
        keep = ((x1 - x0 >= MOSAIC_MIN_SIDE_PX) & (y1 - y0 >= MOSAIC_MIN_SIDE_PX)
                & ((x1 - x0) * (y1 - y0) >= MOSAIC_MIN_VISIBLE * b[:, 2] * b[:, 3]))
        kept_boxes.append(np.stack([(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h], 1)[keep])
        kept_classes.append(np.asarray(classes[k]).reshape(-1)[keep])
    return out, np.concatenate(kept_boxes).astype(np.float32), np.concatenate(kept_classes)


def hsv_jitter(images: np.ndarray, rng: np.random.Generator, gains: Sequence[float]) -> np.ndarray:
    """Random hue, saturation and value of each image of a batch (B, H, W, C) in [0, 1]; boxes are unchanged.

    gains (h, s, v): per image, hue moves by a shift drawn from [-h, h] (a fraction of the colour
    circle), saturation and value are multiplied by 1 + a draw from [-s, s] and [-v, v], clipped to [0, 1]
    (YOLOv5's hsv_h, hsv_s, hsv_v). Grayscale (C = 1) images have value only (h and s must be 0)."""
    hg, sg, vg = (float(g) for g in gains)
    n = len(images)
    dh, ds, dv = (rng.uniform(-g, g, n).astype(np.float32)[:, None, None] for g in (hg, sg, vg))
    if images.shape[-1] == 1:
        return np.clip(images * (1 + dv[..., None]), 0, 1).astype(images.dtype)
    hsv = tf.image.rgb_to_hsv(tf.convert_to_tensor(images, tf.float32))
    hue, sat, val = tf.unstack(hsv, axis=-1)
    hsv = tf.stack([tf.math.floormod(hue + dh, 1.0), tf.clip_by_value(sat * (1 + ds), 0, 1),
                    tf.clip_by_value(val * (1 + dv), 0, 1)], -1)
    return tf.image.hsv_to_rgb(hsv).numpy().astype(images.dtype)
