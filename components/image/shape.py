"""The input shape a run gives the CNN when the config leaves it to the data.

``image.size`` and ``image.channels`` default to ``null``: "read from the data". Before the
pipeline is built (and before MLflow logs the config), :func:`choose_shape` looks at a sample of
the scanned folder and picks

* ``channels``: 3 when any sampled image carries colour (some pixel's R, G and B differ by more
  than JPEG noise), else 1;
* ``size``: the images' median side, rounded to a multiple of ``2**model.blocks`` (each block
  halves the feature map) and bounded to [:data:`MIN_SIZE`, ``image.max_auto_size``] (default 32:
  the default 2-block CNN trained from scratch learns larger inputs too slowly per epoch; measured
  in BENCHMARKS.md, "Your own images").

The choice comes back with its reason in words, which the run prints and logs. A value set in the
config (or by a preset) always wins; only ``null`` fields are chosen.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

MIN_SIZE = 16  # px: below 16 a CNN has nothing to halve
MAX_AUTO_SIZE = 32  # px: ImageConfig.max_auto_size's default, the largest size the data may choose
SAMPLE = 200  # images opened to measure sides and colour
COLOUR_TOLERANCE = 12  # max |R-G|, |G-B| (0..255) a grayscale JPEG's chroma noise may reach


@dataclass(frozen=True)
class ImageStats:
    """What a sample of a folder's images looks like."""

    sides: Tuple[int, ...]  # one per sampled image: the mean of its width and height (px)
    colour: int  # how many sampled images carry colour
    sampled: int
    largest_side: int = 0  # the largest width or height among the sampled images (px)

    @property
    def median_side(self) -> float:
        return float(statistics.median(self.sides))


@dataclass(frozen=True)
class ShapeChoice:
    size: int
    channels: int
    reason: str  # one line: what was chosen and why


def has_colour(img) -> bool:
    """Whether a PIL image carries colour: a colour mode whose channels differ somewhere."""
    import numpy as np

    if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return False
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)  # (H, W, 3)
    spread = np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2])  # (H, W)
    return bool(spread.max() > COLOUR_TOLERANCE)


def sample_stats(root: Path, files: Sequence[Tuple[str, int]], sample: int = SAMPLE, seed: int = 0) -> ImageStats:
    """Opens up to `sample` of `files` (relative paths under `root`, a fixed random pick)."""
    from PIL import Image

    picked = list(files) if len(files) <= sample else random.Random(seed).sample(list(files), sample)
    sides: List[int] = []
    colour = largest = 0
    for rel, _ in picked:
        with Image.open(Path(root) / rel) as img:
            sides.append(round((img.width + img.height) / 2))
            largest = max(largest, img.width, img.height)
            colour += has_colour(img)
    return ImageStats(tuple(sides), colour, len(picked), largest)


def round_size(side: float, blocks: int, max_size: int = MAX_AUTO_SIZE) -> int:
    """`side` rounded to the nearest multiple of 2**blocks, bounded to [MIN_SIZE, `max_size`]
    (`max_size` rounded down to a multiple; where the blocks need more than that, their minimum wins)."""
    step = 2 ** blocks
    low = -(-max(MIN_SIZE, step) // step) * step  # the smallest multiple of step >= MIN_SIZE
    high = max(max_size // step * step, low)
    return int(min(max(round(side / step) * step, low), high))


BACKBONE_HALVINGS = 5  # a keras.applications MobileNet halves its input 5 times: sizes are multiples of 32


def choose_shape(stats: ImageStats, blocks: int, size: Optional[int] = None,
                 channels: Optional[int] = None, max_size: int = MAX_AUTO_SIZE,
                 backbone: str = "cnn") -> ShapeChoice:
    """Fills whichever of `size` / `channels` is None from `stats` (a chosen size at most
    `max_size`, ``image.max_auto_size``); says why in one line. With a `backbone` other than the
    cnn, the size is a multiple of 32 (its 5 halvings), so at least 32."""
    parts = []
    if channels is None:
        channels = 3 if stats.colour else 1
        parts.append(f"image.channels={channels} ({stats.colour} of {stats.sampled} sampled images carry colour)")
    else:
        parts.append(f"image.channels={channels} (set)")
    if size is None:
        halvings, why = ((blocks, "2**model.blocks") if backbone == "cnn"
                         else (BACKBONE_HALVINGS, f"the {backbone} backbone's 5 halvings: 2**5"))
        size = round_size(stats.median_side, halvings, max_size)
        parts.append(f"image.size={size} (median side {stats.median_side:g} px, rounded to a multiple of "
                     f"{why}={2 ** halvings} within [{MIN_SIZE}, image.max_auto_size={max_size}])")
    else:
        parts.append(f"image.size={size} (set)")
    return ShapeChoice(size, channels, "input shape: " + ", ".join(parts))
