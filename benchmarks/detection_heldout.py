"""A held-out detection set nobody tuned to: colour shapes on noisy colour backgrounds, COCO JSON.

Three classes (disc, square, triangle), 1-4 objects of 14-48 px per image, images of 96-128 px a
side (mixed sizes), a random colour per object and a noisy gradient background. Writes
``<out>/images/*.png`` and ``<out>/annotations.json``; then run edgeflow on it:

    .venv/bin/python benchmarks/detection_heldout.py OUT [--images 500] [--seed 7]
    .venv/bin/edgeflow run detection --data OUT --no-tracking --set export.enabled=false
"""
import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("disc", "square", "triangle")


def draw_image(rng: np.random.Generator, side: int):
    """(PIL image, [(class, [x, y, w, h] in pixels)])."""
    base = rng.uniform(40, 215, 3)
    ramp = np.linspace(-30, 30, side)[None, :, None] * rng.uniform(-1, 1, 3)
    pixels = np.clip(base + ramp + rng.normal(0, 18, (side, side, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    draw = ImageDraw.Draw(img)
    objects, taken = [], []
    for _ in range(int(rng.integers(1, 5))):
        for _try in range(20):
            size = int(rng.integers(14, 49))
            w = size if rng.random() < 0.5 else int(size * rng.uniform(0.6, 1.0))
            h = int(size * rng.uniform(0.6, 1.0)) if w == size else size
            x, y = int(rng.integers(0, side - w)), int(rng.integers(0, side - h))
            if all(x + w <= a or a + c <= x or y + h <= b or b + d <= y for a, b, c, d in taken):
                break
        else:
            continue
        taken.append((x, y, w, h))
        cls = int(rng.integers(0, len(CLASSES)))
        colour = tuple(int(v) for v in (base + rng.choice([-1, 1], 3) * rng.uniform(70, 120, 3)) % 256)
        if cls == 0:
            draw.ellipse([x, y, x + w - 1, y + h - 1], fill=colour)
        elif cls == 1:
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=colour)
        else:
            draw.polygon([(x + w / 2, y), (x + w - 1, y + h - 1), (x, y + h - 1)], fill=colour)
        objects.append((cls, [x, y, w, h]))
    return img, objects


def write_set(out: Path, images: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]}
    for i in range(images):
        side = int(rng.integers(96, 129))
        img, objects = draw_image(rng, side)
        name = f"images/{i:05d}.png"
        img.save(out / name)
        coco["images"].append({"id": i + 1, "file_name": Path(name).name, "width": side, "height": side})
        for cls, bbox in objects:
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i + 1,
                                        "category_id": cls + 1, "bbox": bbox, "area": bbox[2] * bbox[3],
                                        "iscrowd": 0})
    (out / "annotations.json").write_text(json.dumps(coco))
    print(f"wrote {images} images, {len(coco['annotations'])} objects to {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    write_set(args.out, args.images, args.seed)


if __name__ == "__main__":
    main()
