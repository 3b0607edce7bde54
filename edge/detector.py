"""Detection on a device: image files -> boxes in the original image's pixels. No TensorFlow.

The model info's ``detection`` block carries what decoding needs::

    {"anchors": [[w, h], ...], "grid": S, "score_threshold": 0.25, "iou_threshold": 0.45,
     "max_detections": 20, "box_coding": "yolov5"}

and ``labels`` names the C classes. The .tflite ends at the raw grid, (1, S, S, A, 5 + C) or the
same values flattened; :func:`edgeflow.edge.detection.detect` decodes it and runs class-aware NMS.
A feature-pyramid model's block has ``"grids": [S_0, ...]`` (finest first) and anchors per scale
(L, A, 2); its .tflite has one output per scale, told apart by size (whatever the interpreter's order).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import numpy as np

from edgeflow.edge.detection import detect
from edgeflow.edge.runtime import EdgeModel, EdgeRuntimeError, read_image


@dataclass
class Box:
    class_id: int
    label: str
    score: float
    box: List[float]  # x0, y0, x1, y1 in pixels of the original image


@dataclass
class ImageDetections:
    source: str
    width: int
    height: int
    detections: List[Box]  # best first


def detection_spec(info: dict) -> dict:
    """The model info's ``detection`` block, checked, with the thresholds' defaults filled in."""
    spec = info.get("detection")
    if not isinstance(spec, dict) or not {"anchors", "grid"} <= set(spec) or not info.get("labels"):
        raise EdgeRuntimeError("the model info has task 'detection' but no detection block with anchors and grid "
                               "(or no labels); export the model again")
    # An info without box_coding comes from a model exported before the yolov5 coding: yolov2.
    return {"score_threshold": 0.25, "iou_threshold": 0.45, "max_detections": 20, "box_coding": "yolov2", **spec}


def scale_grids(outputs: Sequence[np.ndarray], grids: Sequence[int], anchors: int, classes: int) -> list:
    """One image's model outputs, one per scale in any order -> [(S_l, S_l, A, 5 + C)] in `grids`' order."""
    sizes = {o.size: o for o in outputs}
    if len(outputs) != len(grids) or len(sizes) != len(grids):
        raise EdgeRuntimeError(f"the model has {len(outputs)} outputs but its info describes {len(grids)} grids "
                               f"({', '.join(map(str, grids))}); the .tflite and its JSON do not belong together")
    want = [g * g * anchors * (5 + classes) for g in grids]
    return [raw_grid(sizes.get(n, outputs[0]), g, anchors, classes) for n, g in zip(want, grids)]


def raw_grid(output: np.ndarray, grid: int, anchors: int, classes: int) -> np.ndarray:
    """One image's model output, (S, S, A, 5 + C) or flattened in any way -> (S, S, A, 5 + C)."""
    shape = (grid, grid, anchors, 5 + classes)
    if output.size != int(np.prod(shape)):
        raise EdgeRuntimeError(f"the model's output has {output.size} values per image but its info describes a "
                               f"{grid}x{grid} grid of {anchors} anchors and {classes} classes "
                               f"({int(np.prod(shape))} values); the .tflite and its JSON do not belong together")
    return output.reshape(shape)


def detect_images(model: EdgeModel, images: Sequence[str | Path],
                  score_threshold: float | None = None) -> List[ImageDetections]:
    """The detections in each image file; `score_threshold` overrides the model info's."""
    spec, labels = detection_spec(model.info), list(model.info["labels"])
    h, w, c = model.image_size()
    grids = [int(g) for g in spec.get("grids", [spec["grid"]])]
    anchors = np.asarray(spec["anchors"], np.float32).reshape(len(grids), -1, 2)  # (L, A, 2) fractions of the image
    threshold = spec["score_threshold"] if score_threshold is None else score_threshold
    found: List[ImageDetections] = []
    for path in images:
        pixels, (width, height) = read_image(path, (h, w), c)
        if len(grids) == 1:
            grid = raw_grid(model.run(pixels[None])[0], grids[0], anchors.shape[1], len(labels))
        else:
            grid = scale_grids([o[0] for o in model.run_outputs(pixels[None])], grids, anchors.shape[1], len(labels))
        d = detect(grid, anchors, threshold, spec["iou_threshold"], int(spec["max_detections"]),
                   spec["box_coding"])
        scale = np.array([width, height, width, height], np.float32)
        boxes = [Box(int(cls), labels[int(cls)], float(score), [round(float(v), 1) for v in box])
                 for box, score, cls in zip(d.boxes * scale, d.scores, d.classes)]
        found.append(ImageDetections(str(path), int(width), int(height), boxes))
    return found
