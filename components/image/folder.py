"""Pure functions over an image folder (one sub-folder per class): scan, check, encode.

The TFX ExampleGen in ``image_example_gen.py`` is a thin Beam wrapper over these,
and the CLI calls :func:`scan_image_folder` before a run so that a bad folder gets
one clear sentence instead of a pipeline traceback.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from edgeflow import EdgeflowError
from edgeflow.models.features import IMAGE_KEY, LABEL_KEY, PATH_KEY

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Feature keys of the tf.Examples the ExampleGen writes.

log = logging.getLogger(__name__)


class DataError(EdgeflowError):
    """The input data cannot be used as given."""


@dataclass(frozen=True)
class FolderScan:
    root: Path
    classes: Tuple[str, ...]
    files: Tuple[Tuple[str, int], ...]  # (relative path, label)
    bad: Tuple[str, ...] = field(default=())  # relative paths of unreadable images

    @property
    def bad_fraction(self) -> float:
        total = len(self.files) + len(self.bad)
        return len(self.bad) / total if total else 0.0


MAX_PIXELS = 50_000_000  # declared width x height above this is refused before decoding (a PNG bomb)


def decode_check(data: bytes, max_pixels: int = MAX_PIXELS) -> Optional[str]:
    """Returns None when `data` is a readable PNG/JPEG, else a short reason.

    The size the header declares is checked before any pixel is decoded: a few hundred bytes of PNG
    can declare 100,000 x 100,000 pixels (10 GB once decoded, in the scan, the ExampleGen and Transform)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, by name
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                if img.format not in ("PNG", "JPEG"):
                    return f"{img.format} is not PNG or JPEG"
                if img.width * img.height > max_pixels:
                    return (f"it declares {img.width} x {img.height} pixels, more than {max_pixels:,} "
                            "(a decompression bomb, or an image to shrink first)")
                img.load()  # verify() misses truncated data; a full decode does not
    except Image.DecompressionBombError as err:  # PIL's own bound (2 x Image.MAX_IMAGE_PIXELS)
        return f"a decompression bomb ({err})"
    except UnidentifiedImageError:
        return "not an image PIL can identify (no PNG or JPEG header)"
    except (OSError, SyntaxError, ValueError, MemoryError) as err:
        return str(err) or err.__class__.__name__
    return None


def list_classes(root: Path) -> Tuple[str, ...]:
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))


def scan_image_folder(path: str | Path, max_bad_fraction: float = 0.05, check_images: bool = True) -> FolderScan:
    """Lists and checks an image folder; raises :class:`DataError` with the fix when unusable."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"data folder {root} does not exist; pass --data with a folder that has one sub-folder of images per class")
    if not root.is_dir():
        raise DataError(f"data path {root} is a file, not a folder; pass --data with a folder that has one sub-folder of images per class")
    classes = list_classes(root)
    if not classes:
        raise DataError(f"data folder {root} has no class sub-folders; put the images of each class in a sub-folder named after the class")
    if len(classes) < 2:
        raise DataError(f"data folder {root} has only one class ({classes[0]}); a classifier needs at least two class sub-folders")
    files: List[Tuple[str, int]] = []
    bad: List[str] = []
    for label, name in enumerate(classes):
        images = sorted(p for p in (root / name).iterdir() if p.is_file() and not p.name.startswith("."))
        if not images:
            raise DataError(f"class folder {root / name} has no images; add PNG or JPEG files to it or remove the folder")
        for img in images:
            rel = f"{name}/{img.name}"
            reason = None
            if img.suffix.lower() not in IMAGE_SUFFIXES:
                reason = f"suffix {img.suffix or '(none)'} is not .png, .jpg or .jpeg"
            elif check_images:
                reason = decode_check(img.read_bytes())
            if reason:
                log.warning("skipping %s: %s", rel, reason)
                bad.append(rel)
            else:
                files.append((rel, label))
    scan = FolderScan(root, classes, tuple(files), tuple(bad))
    for name in classes:
        if not any(rel.startswith(name + "/") for rel, _ in files):
            raise DataError(f"class folder {root / name} has no readable images; replace its corrupt files with PNG or JPEG images")
    if scan.bad_fraction > max_bad_fraction:
        raise DataError(
            f"{len(bad)} of {len(bad) + len(files)} files in {root} are not readable PNG/JPEG images "
            f"({scan.bad_fraction:.0%} > data.max_bad_fraction={max_bad_fraction:.0%}), e.g. {', '.join(bad[:3])}; "
            "fix or remove them, or raise data.max_bad_fraction")
    return scan


def to_example(data: bytes, rel_path: str, label: int):
    """One tf.train.Example: the encoded image as-is, its label and its relative path."""
    import tensorflow as tf

    feature = {
        IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        PATH_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[rel_path.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))
