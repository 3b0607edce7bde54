"""Training targets for the grid head and anchors by k-means (NumPy); the augmentation is in augment.py.

A target grid has the head's shape (S, S, A, 5 + C). As in YOLOv5, a box is a positive in the cell
holding its centre and the two nearest neighbour cells, for every anchor whose shape is within
``anchor_t`` times the box's on each side: ``(x, y, w, h, 1, one-hot class)`` with x, y the centre in
cell units from that cell's corner and w, h fractions of the image; zeros elsewhere. Three cells
and several anchors per object give the loss several times more positives than one responsible cell.
"""
from __future__ import annotations

import numpy as np


def wh_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of boxes and anchors aligned at one centre: (N, 2), (A, 2) -> (N, A)."""
    inter = np.minimum(wh[:, None, 0], anchors[None, :, 0]) * np.minimum(wh[:, None, 1], anchors[None, :, 1])
    return inter / (wh[:, None].prod(-1) + anchors[None].prod(-1) - inter)


def kmeans_anchors(wh: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """k anchor shapes (k, 2) from box shapes (N, 2) by k-means with 1 - IoU distance, by area."""
    if len(wh) < k:
        raise ValueError(f"k-means needs at least {k} boxes, got {len(wh)}")
    rng = np.random.default_rng(seed)
    centres = wh[rng.choice(len(wh), k, replace=False)]
    for _ in range(iterations):
        nearest = wh_iou(wh, centres).argmax(1)
        moved = np.array([np.median(wh[nearest == j], 0) if np.any(nearest == j) else centres[j] for j in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    return centres[np.argsort(centres.prod(1))].astype(np.float32)


def match_anchors(wh: np.ndarray, anchors: np.ndarray, anchor_t: float) -> np.ndarray:
    """(N, A) bool: anchor a fits box n when no side differs by more than `anchor_t` times (YOLOv5);
    a box no anchor fits gets its best one by IoU, so every box has at least one."""
    ratio = wh[:, None, :] / anchors[None]  # (N, A, 2)
    fits = np.maximum(ratio, 1 / ratio).max(-1) < anchor_t
    best = wh_iou(wh, anchors).argmax(1)
    fits[np.arange(len(wh)), best] |= ~fits.any(1)
    return fits


def positive_cells(cx: float, cy: float, grid: int, neighbours: bool = True):
    """[(row, col)]: the cell holding the centre, then (with `neighbours`) the nearer of its left/right
    neighbours and the nearer of its upper/lower ones, where they exist (a centre exactly mid-cell has none)."""
    col, row = min(int(cx * grid), grid - 1), min(int(cy * grid), grid - 1)
    cells = [(row, col)]
    if neighbours:
        fx, fy = cx * grid - col, cy * grid - row
        if fx < 0.5 and col > 0:
            cells.append((row, col - 1))
        elif fx > 0.5 and col < grid - 1:
            cells.append((row, col + 1))
        if fy < 0.5 and row > 0:
            cells.append((row - 1, col))
        elif fy > 0.5 and row < grid - 1:
            cells.append((row + 1, col))
    return cells


def encode_targets(boxes: np.ndarray, classes: np.ndarray, anchors: np.ndarray, grid: int, num_classes: int,
                   anchor_t: float = 4.0, neighbours: bool = True, fits: np.ndarray = None) -> np.ndarray:
    """boxes (N, 4) (cx, cy, w, h) in [0, 1], classes (N,) -> target (S, S, A, 5 + C) float32.

    Each box is a positive in up to 3 cells (:func:`positive_cells`) times every anchor that fits its
    shape (:func:`match_anchors`): ``(x, y, w, h, 1, one-hot class)``, x, y the centre in cell units
    from that cell's corner (in [-0.5, 1.5), what the yolov5 box coding can reach), w, h fractions of
    the image. Where two boxes claim one (cell, anchor), the later one keeps it. `fits` (N, A) overrides
    the anchor match (:func:`encode_scales` matches over every scale's anchors at once).
    """
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    target = np.zeros((grid, grid, len(anchors), 5 + num_classes), np.float32)
    if len(boxes) == 0:
        return target
    if fits is None:
        fits = match_anchors(np.maximum(boxes[:, 2:4], 1e-6), anchors, anchor_t)
    for (cx, cy, w, h), cls, ok in zip(boxes, classes, fits):
        for row, col in positive_cells(cx, cy, grid, neighbours):
            for a in np.nonzero(ok)[0]:
                target[row, col, a, :5] = (cx * grid - col, cy * grid - row, w, h, 1.0)
                target[row, col, a, 5:] = 0.0
                target[row, col, a, 5 + int(cls)] = 1.0
    return target


def encode_scales(boxes: np.ndarray, classes: np.ndarray, anchors: np.ndarray, grids, num_classes: int,
                  anchor_t: float = 4.0, neighbours: bool = True) -> list:
    """The targets of a pyramid's heads: anchors (L, A, 2), grids (L,) finest first -> [(S_l, S_l, A, 5 + C)].

    Assignment per scale, as in YOLOv5: a box is a positive at every scale with an anchor within
    `anchor_t` of its shape, so a mid-sized box may train two neighbouring scales; a box no anchor of any
    scale fits goes to its single best anchor by IoU (not one per scale).
    """
    anchors = np.asarray(anchors, np.float32).reshape(len(grids), -1, 2)
    per_scale = anchors.shape[1]
    fits = (match_anchors(np.maximum(boxes[:, 2:4], 1e-6), anchors.reshape(-1, 2), anchor_t)
            if len(boxes) else np.zeros((0, anchors.size // 2), bool))
    return [encode_targets(boxes, classes, a, grid, num_classes, anchor_t, neighbours,
                           fits[:, i * per_scale:(i + 1) * per_scale])
            for i, (a, grid) in enumerate(zip(anchors, grids))]
