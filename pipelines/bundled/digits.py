"""Bundled default data: scikit-learn's digits (1,797 real 8x8 handwritten digits).

Written once as an image folder (``<root>/<digit>/<index>.png``) and then ingested
through the same ExampleGen as a user's folder.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger("edgeflow")


def write_digits_folder(root: Path, limit_per_class: Optional[int] = None) -> Path:
    """Writes the digits as PNGs under `root` (skipped when already complete); returns the folder."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = Path(root) / ("digits" if limit_per_class is None else f"digits-{limit_per_class}")
    done = folder / ".complete"
    if done.exists():
        return folder
    counts: dict = {}
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        if limit_per_class is not None and counts.get(label, 0) >= limit_per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        out = folder / str(label) / f"{i:04d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(image * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
        Image.fromarray(pixels, mode="L").save(out)
    done.write_text(f"{sum(counts.values())} images\n")
    log.info("wrote %d digit images to %s", sum(counts.values()), folder)
    return folder
