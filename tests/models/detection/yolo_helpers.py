"""Hand-built raw YOLO grids: the head output that decodes to chosen boxes."""
import numpy as np

CONFIDENT = 12.0  # a logit this large is a probability of ~1 (sigmoid) or a sure class (softmax)


def raw_for_boxes(objects, anchors, grid: int, num_classes: int) -> np.ndarray:
    """objects [(cx, cy, w, h, class, anchor)] -> raw (S, S, A, 5 + C) that decodes to exactly them."""
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    raw = np.zeros((grid, grid, len(anchors), 5 + num_classes), np.float32)
    raw[..., 4] = -CONFIDENT
    for cx, cy, w, h, cls, a in objects:
        col, row = int(cx * grid), int(cy * grid)
        fx, fy = cx * grid - col, cy * grid - row
        raw[row, col, a, 0:2] = np.log(fx / (1 - fx)), np.log(fy / (1 - fy))
        raw[row, col, a, 2:4] = np.log(w / anchors[a, 0]), np.log(h / anchors[a, 1])
        raw[row, col, a, 4] = CONFIDENT
        raw[row, col, a, 5 + cls] = CONFIDENT
    return raw
