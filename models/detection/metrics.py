"""COCO-style detection metrics with pycocotools (the reference implementation), and a preview PNG.

Boxes everywhere here are fractions of the image; pycocotools gets them scaled to ``SCALE``
pixels a side (the scale changes nothing in mAP over all areas).
"""
from __future__ import annotations

import contextlib
import io
from typing import Dict, List, Sequence

import numpy as np

from edgeflow.edge.detection import Detections

SCALE = 1000.0


def _xywh(box_xyxy) -> List[float]:
    x0, y0, x1, y1 = (float(v) * SCALE for v in box_xyxy)
    return [x0, y0, x1 - x0, y1 - y0]


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) (cx, cy, w, h) -> (N, 4) (x0, y0, x1, y1)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], -1)


def coco_metrics(gt_boxes: Sequence[np.ndarray], gt_classes: Sequence[np.ndarray],
                 detections: Sequence[Detections], class_names: Sequence[str]) -> Dict[str, float]:
    """mAP@0.5, mAP@0.5:0.95 and AP@0.5 per class over images; gt_boxes[i] is (n_i, 4) (x0, y0, x1, y1).

    Returns ``{"map50", "map50_95", "ap50/<class name>", "images", "objects"}``; a class
    with no ground truth in the set has no AP entry.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i, "width": SCALE, "height": SCALE} for i in range(len(gt_boxes))]
    anns, dets = [], []
    for i, (boxes, classes, found) in enumerate(zip(gt_boxes, gt_classes, detections)):
        for box, cls in zip(boxes, classes):
            xywh = _xywh(box)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(cls), "bbox": xywh,
                         "area": xywh[2] * xywh[3], "iscrowd": 0})
        dets += [{"image_id": i, "category_id": int(c), "bbox": _xywh(b), "score": float(s)}
                 for b, s, c in zip(found.boxes, found.scores, found.classes)]
    out = {"images": float(len(images)), "objects": float(len(anns)), "map50": 0.0, "map50_95": 0.0}
    if not anns or not dets:
        return out
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its tables
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": k, "name": n} for k, n in enumerate(class_names)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out["map50_95"], out["map50"] = float(ev.stats[0]), float(ev.stats[1])
    precision = ev.eval["precision"]  # (IoU thresholds, recall points, classes, area ranges, max dets)
    for k, name in enumerate(class_names):
        p = precision[0, :, k, 0, -1]
        if np.any(p > -1):
            out[f"ap50/{name}"] = float(p[p > -1].mean())
    return out


def draw_detections(image: np.ndarray, found: Detections, class_names: Sequence[str], gt_boxes=None,
                    scale: int = 4):
    """A PIL image: (H, W, C) in [0, 1] enlarged `scale` times, ground truth green, detections red."""
    from PIL import Image, ImageDraw

    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    size = np.array([img.width, img.height] * 2)
    for box in ([] if gt_boxes is None else gt_boxes):
        draw.rectangle(list(np.asarray(box) * size), outline=(0, 200, 0))
    for box, score, cls in zip(found.boxes, found.scores, found.classes):
        xy = list(np.asarray(box) * size)
        draw.rectangle(xy, outline=(255, 40, 40))
        draw.text((xy[0] + 1, xy[1] + 1), f"{class_names[cls]} {score:.2f}", fill=(255, 80, 80))
    return img


def contact_sheet(tiles: Sequence, columns: int = 4):
    """Tiles (PIL images of one size) in a grid."""
    from PIL import Image

    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (w * columns, h * rows))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * w, (i // columns) * h))
    return sheet
