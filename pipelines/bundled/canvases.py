"""Bundled detection data: scikit-learn's 8x8 digits pasted on a larger canvas, in YOLO format.

Each canvas gets 1..``max_objects`` digits, each scaled to a side drawn from
[``min_object_px``, ``max_object_px``] and placed where it overlaps no other digit. The set is
written as a YOLO folder (``images/``, ``labels/``, ``classes.txt``) and then ingested through
the same ExampleGen as a user's folder. The same config and seed give the same bytes.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Tuple

import numpy as np

from edgeflow.config import DetectionConfig

log = logging.getLogger("edgeflow")
PLACEMENT_TRIES = 30


def _digit_patch(pixels8: np.ndarray, side: int) -> Tuple[np.ndarray, Tuple[int, int, int, int]]:
    """(8, 8) digit in 0..16 -> (side, side) uint8 patch and its ink's tight box (x0, y0, x1, y1)."""
    from PIL import Image

    img = Image.fromarray(np.clip(pixels8 * 16, 0, 255).astype(np.uint8), mode="L")
    patch = np.asarray(img.resize((side, side), Image.BILINEAR))
    ys, xs = np.nonzero(patch > 48)
    return patch, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _overlaps(box, boxes) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def make_canvas(rng: np.random.Generator, images: np.ndarray, targets: np.ndarray, cfg: DetectionConfig):
    """One canvas: (size, size) uint8 image and YOLO rows [(class, cx, cy, w, h)]."""
    size = cfg.image_size
    canvas = rng.integers(0, 24, (size, size)).astype(np.uint8)  # faint sensor noise
    placed: List[Tuple[int, int, int, int]] = []
    rows = []
    for _ in range(int(rng.integers(1, cfg.max_objects + 1))):
        i = int(rng.integers(len(images)))
        side = int(rng.integers(cfg.min_object_px, cfg.max_object_px + 1))
        patch, (bx0, by0, bx1, by1) = _digit_patch(images[i], side)
        for _ in range(PLACEMENT_TRIES):
            x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
            box = (x + bx0, y + by0, x + bx1, y + by1)
            if not _overlaps(box, placed):
                break
        else:
            continue  # no free spot; this canvas gets fewer digits
        placed.append(box)
        canvas[y:y + side, x:x + side] = np.maximum(canvas[y:y + side, x:x + side], patch)
        w, h = box[2] - box[0], box[3] - box[1]
        rows.append((int(targets[i]), (box[0] + w / 2) / size, (box[1] + h / 2) / size, w / size, h / size))
    return canvas, rows


def write_digit_detection_set(root: Path, cfg: DetectionConfig) -> Path:
    """Writes the set under `root` (skipped when already complete); returns the YOLO folder."""
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = Path(root) / (f"digit-detection-{cfg.num_images}x{cfg.image_size}-{cfg.max_objects}obj-"
                           f"{cfg.min_object_px}to{cfg.max_object_px}px-seed{cfg.data_seed}")
    done = folder / ".complete"
    if done.exists():
        return folder
    digits = load_digits()
    rng = np.random.default_rng(cfg.data_seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("".join(f"{d}\n" for d in range(10)))
    boxes = 0
    for n in range(cfg.num_images):
        canvas, rows = make_canvas(rng, digits.images, digits.target, cfg)
        Image.fromarray(canvas, mode="L").save(folder / "images" / f"{n:05d}.png")
        (folder / "labels" / f"{n:05d}.txt").write_text(
            "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in rows))
        boxes += len(rows)
    done.write_text(f"{cfg.num_images} images, {boxes} boxes\n")
    log.info("wrote %d detection images (%d digits) to %s", cfg.num_images, boxes, folder)
    return folder
