"""A user's own images: today's digits-shaped settings against the defaults read from the data (issue #16).

    .venv/bin/python benchmarks/own_images.py [--out DIR] [--per-class 150] [--with-export]

Generates a held-out folder nobody tuned to: 4 classes (circle, square, triangle, cross) drawn
with PIL in random colours, sizes and places on noisy coloured backgrounds, 24-64 px, JPEG and PNG
mixed (``shapes``: flips keep the class). ``arrows`` (write_folder(kind="arrows")) is a second one,
made after the defaults were chosen and never tuned to: arrows pointing left, right, up or down on
colour-gradient backgrounds with noise, 28-80 px, where a flip changes the class. Then runs ``edgeflow run image --data FOLDER`` twice, each in a fresh output folder:

* before: ``--set image.size=16 --set image.channels=1 --set augment.enabled=false`` (the old defaults);
* after: the defaults (shape read from the data, augmentation on).

and prints eval accuracy (TFMA, eval split), blessing, epochs and wall seconds side by side.
EdgeExport is switched off in both (``export.enabled=false``) so the seconds compare training,
not .tflite conversions of a blessed model; ``--with-export`` keeps it.
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle", "cross")
ARROWS = ("left", "right", "up", "down")
KINDS = {"shapes": CLASSES, "arrows": ARROWS}
BEFORE = ["image.size=16", "image.channels=1", "augment.enabled=false"]


def draw_image(shape: str, rng: random.Random, nprng: np.random.Generator) -> Image.Image:
    """One side x side RGB image: a coloured noisy background with one `shape` in another colour."""
    side = rng.randint(24, 64)
    base = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    noise = nprng.normal(0, 30, (side, side, 3))  # (H, W, 3) coloured noise
    background = np.clip(base + noise, 0, 255).astype(np.uint8)
    img = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(img)
    colour = tuple(int((c + rng.randint(80, 175)) % 256) for c in base)  # far from the background
    r = rng.uniform(0.22, 0.4) * side
    cx, cy = rng.uniform(r, side - r), rng.uniform(r, side - r)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        draw.rectangle([cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85], fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=colour)
    else:
        w = max(2.0, r * 0.35)
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=colour)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=colour)
    return img


def draw_arrow(direction: str, rng: random.Random, nprng: np.random.Generator) -> Image.Image:
    """One side x side RGB image: a two-colour gradient with noise, one arrow pointing `direction`."""
    side = rng.randint(28, 80)
    a, b = (np.array([rng.randint(0, 255) for _ in range(3)], np.float32) for _ in range(2))
    t = np.linspace(0.0, 1.0, side, dtype=np.float32)
    ramp = t[None, :, None] if rng.random() < 0.5 else t[:, None, None]  # left-right or top-bottom
    background = a + (b - a) * ramp + nprng.normal(0, 20, (side, side, 3))
    img = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8), "RGB")
    mean = (a + b) / 2
    colour = tuple(int((c + rng.randint(90, 165)) % 256) for c in mean)
    r = rng.uniform(0.25, 0.42) * side
    cx, cy = rng.uniform(r, side - r), rng.uniform(r, side - r)
    w, head = r * rng.uniform(0.18, 0.3), r * rng.uniform(0.45, 0.6)
    # Pointing right: a shaft from -r to r - head, a head from r - head to r; then rotated.
    points = [(-r, -w), (r - head, -w), (r - head, -head), (r, 0), (r - head, head), (r - head, w), (-r, w)]
    turn = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}[direction]
    c, s = turn
    draw = ImageDraw.Draw(img)
    draw.polygon([(cx + x * c - y * s, cy + x * s + y * c) for x, y in points], fill=colour)
    return img


def write_folder(root: Path, per_class: int, seed: int = 16, kind: str = "shapes") -> Path:
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    draw = draw_image if kind == "shapes" else draw_arrow
    for name in KINDS[kind]:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = draw(name, rng, nprng)
            if rng.random() < 0.5:
                img.save(root / name / f"{i:04d}.jpg", quality=rng.randint(70, 95))
            else:
                img.save(root / name / f"{i:04d}.png")
    return root


def run(data: Path, out: Path, sets, with_export: bool) -> dict:
    """One ``edgeflow run image`` in a fresh output folder; its accuracy, blessing, epochs and seconds."""
    import edgeflow  # noqa: F401  (the Keras/TensorFlow environment, before TensorFlow is imported)
    from edgeflow.pipelines.results import read_run

    sets = list(sets) + ([] if with_export else ["export.enabled=false"])
    cmd = [str(Path(sys.executable).with_name("edgeflow")), "run", "image", "--data", str(data),
           "--output", str(out)] + [a for s in sets for a in ("--set", s)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.time() - t0
    shape = next((line.split("input shape: ", 1)[1] for line in proc.stdout.splitlines() + proc.stderr.splitlines()
                  if "input shape: " in line), "(set)")
    results = read_run(out / "image" / "metadata.sqlite", "image")
    return {"accuracy": results.metrics.get("accuracy", float("nan")), "blessed": results.blessed,
            "epochs": len(results.history), "seconds": seconds, "rc": proc.returncode, "shape": shape,
            "command": " ".join(cmd[1:])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="working folder (default: a new temporary one)")
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--with-export", action="store_true")
    args = ap.parse_args()
    work = Path(args.out or tempfile.mkdtemp(prefix="edgeflow-own-images-"))
    data = write_folder(work / "data", args.per_class)
    print(f"data: {len(CLASSES) * args.per_class} images in {len(CLASSES)} classes, 24-64 px, JPEG+PNG, at {data}",
          flush=True)
    rows = {"before": run(data, work / "out-before", BEFORE, args.with_export)}
    print(f"before done in {rows['before']['seconds']:.0f} s", flush=True)
    rows["after"] = run(data, work / "out-after", [], args.with_export)
    print_runs(rows, "after", width=8)


def print_runs(rows: dict, shape_of: str, width: int) -> None:
    """The runs side by side (accuracy, blessed, epochs, seconds), `shape_of`'s input shape, then each command."""
    print(f"\n{'run':{width}} {'eval accuracy':>13} {'blessed':>8} {'epochs':>6} {'seconds':>8}")
    for name, r in rows.items():
        failed = "" if r["rc"] == 0 else f"  (exit {r['rc']})"
        print(f"{name:{width}} {r['accuracy']:13.4f} {str(r['blessed']):>8} {r['epochs']:6d} {r['seconds']:8.0f}{failed}")
    print(f"{shape_of}'s input shape: {rows[shape_of]['shape']}")
    for name, r in rows.items():
        print(f"{name}: {r['command']}")
        if r.get("error"):
            print(r["error"])


if __name__ == "__main__":
    main()
