"""Hand-built raw YOLO grids: the head output that decodes to chosen boxes (yolov5 box coding)."""
import numpy as np

CONFIDENT = 12.0  # a logit this large is a probability of ~1 (sigmoid) or a sure class (softmax)


def logit(p):
    return np.log(p / (1 - p))


def xy_logit(offset):
    """The raw value whose 2 * sigmoid - 0.5 is `offset` (cell units, in (-0.5, 1.5))."""
    return logit((np.asarray(offset, np.float64) + 0.5) / 2)


def wh_logit(size, anchor):
    """The raw value whose anchor * (2 * sigmoid)^2 is `size` (size / anchor in (0, 4))."""
    return logit(np.sqrt(np.asarray(size, np.float64) / anchor) / 2)


def raw_for_boxes(objects, anchors, grid: int, num_classes: int) -> np.ndarray:
    """objects [(cx, cy, w, h, class, anchor)] -> raw (S, S, A, 5 + C) that decodes to exactly them."""
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    raw = np.zeros((grid, grid, len(anchors), 5 + num_classes), np.float32)
    raw[..., 4] = -CONFIDENT
    for cx, cy, w, h, cls, a in objects:
        col, row = int(cx * grid), int(cy * grid)
        raw[row, col, a, 0:2] = xy_logit([cx * grid - col, cy * grid - row])
        raw[row, col, a, 2:4] = wh_logit([w, h], anchors[a])
        raw[row, col, a, 4] = CONFIDENT
        raw[row, col, a, 5 + cls] = CONFIDENT
    return raw


def raw_for_target(target, anchors) -> np.ndarray:
    """A target grid (S, S, A, 5 + C) -> the raw grid that predicts it exactly at every positive."""
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    raw = np.zeros_like(target)
    raw[..., 4] = -CONFIDENT
    for row, col, a in zip(*np.nonzero(target[..., 4])):
        t = target[row, col, a]
        raw[row, col, a, 0:2] = xy_logit(t[0:2])
        raw[row, col, a, 2:4] = wh_logit(t[2:4], anchors[a])
        raw[row, col, a, 4] = CONFIDENT
        raw[row, col, a, 5:] = CONFIDENT * t[5:]
    return raw
