"""Pure functions over detection data sets: parse YOLO text labels and COCO JSON, check every box.

Two layouts are read (``scan_detection_folder`` tells them apart):

* YOLO: ``<root>/images/<name>.png|jpg``, ``<root>/labels/<name>.txt`` with one
  ``class cx cy w h`` line per object (all normalized to [0, 1]) and ``<root>/classes.txt``
  with one class name per line. An empty label file is an image with no objects.
* COCO: ``<root>/annotations.json`` (``images``, ``annotations`` with pixel ``bbox`` =
  ``[x, y, w, h]``, ``categories``) and the images under ``<root>/images/``.

Every box becomes ``(cx, cy, w, h)`` normalized. A file with any invalid label is left
out whole (a dropped box would teach the model that its object is background) and named
in the :class:`DetectionScan` report; past ``max_bad_fraction`` of bad files the scan raises.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from edgeflow.components.image.folder import IMAGE_SUFFIXES, DataError

log = logging.getLogger(__name__)

Box = Tuple[float, float, float, float]  # (cx, cy, w, h), fractions of the image
# The kinds of invalid label, as named in the report.
OUT_OF_RANGE, ZERO_AREA, UNKNOWN_CLASS, MALFORMED = "out_of_range", "zero_area", "unknown_class", "malformed"
LABEL_WITHOUT_IMAGE, IMAGE_WITHOUT_LABEL = "label_without_image", "image_without_label"
EDGE_TOLERANCE = 1e-3  # box edges may pass the image border by this much (rounding in label tools)


@dataclass(frozen=True)
class LabelledImage:
    image: str  # path relative to the data root, e.g. "images/0001.png"
    classes: Tuple[int, ...]
    boxes: Tuple[Box, ...]


@dataclass(frozen=True)
class Problem:
    file: str  # the image, label file or annotation at fault
    kind: str  # OUT_OF_RANGE, ZERO_AREA, ...
    detail: str


@dataclass(frozen=True)
class DetectionScan:
    root: Path
    format: str  # "yolo" or "coco"
    class_names: Tuple[str, ...]
    images: Tuple[LabelledImage, ...]
    problems: Tuple[Problem, ...] = field(default=())

    @property
    def bad_files(self) -> Tuple[str, ...]:
        return tuple(sorted({p.file for p in self.problems}))

    @property
    def bad_fraction(self) -> float:
        total = len(self.images) + len(self.bad_files)
        return len(self.bad_files) / total if total else 0.0

    def report(self) -> dict:
        """What a user reads: counts per kind of problem and every problem named."""
        return {"root": str(self.root), "format": self.format, "classes": list(self.class_names),
                "images": len(self.images), "boxes": sum(len(i.boxes) for i in self.images),
                "bad_files": len(self.bad_files), "bad_fraction": round(self.bad_fraction, 4),
                "problems_by_kind": dict(Counter(p.kind for p in self.problems)),
                "problems": [{"file": p.file, "kind": p.kind, "detail": p.detail} for p in self.problems]}


def check_box(cls: int, box: Box, num_classes: int) -> Optional[Tuple[str, str]]:
    """None for a valid box, else (kind, detail)."""
    cx, cy, w, h = box
    if not 0 <= cls < num_classes:
        return UNKNOWN_CLASS, f"class {cls} is not in 0..{num_classes - 1}"
    if w <= 0 or h <= 0:
        return (ZERO_AREA if w == 0 or h == 0 else OUT_OF_RANGE), f"box {box} has width or height {min(w, h)}"
    edges = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if not all(0 <= v <= 1 for v in box) or not all(-EDGE_TOLERANCE <= e <= 1 + EDGE_TOLERANCE for e in edges):
        return OUT_OF_RANGE, f"box {box} is not inside [0, 1]"
    return None


def parse_yolo_label(text: str, num_classes: int) -> Tuple[List[int], List[Box], List[Tuple[str, str]]]:
    """A YOLO label file's text -> (classes, boxes, [(kind, detail)] for every invalid line)."""
    classes, boxes, problems = [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 5 or float(parts[0]) != int(float(parts[0])):
                raise ValueError
            cls, box = int(float(parts[0])), tuple(float(v) for v in parts[1:])
        except ValueError:
            problems.append((MALFORMED, f"line {n} is not 'class cx cy w h': {line.strip()[:60]!r}"))
            continue
        bad = check_box(cls, box, num_classes)
        if bad:
            problems.append((bad[0], f"line {n}: {bad[1]}"))
        else:
            classes.append(cls)
            boxes.append(box)
    return classes, boxes, problems


def _image_files(folder: Path) -> Dict[str, Path]:
    """Stem -> path of every PNG/JPEG directly in `folder`."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")}


def read_class_names(path: Path) -> Tuple[str, ...]:
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip()) if path.is_file() else ()
    if not names:
        raise DataError(f"{path} is missing or empty; write one class name per line (line 1 = class 0)")
    return names


def list_yolo(root: Path) -> Tuple[Tuple[str, ...], List[Tuple[str, str]], List[Problem]]:
    """A YOLO folder's file names only -> (class names, [(image, label file)] pairs, pairing problems).

    Reads no label file: :func:`parse_yolo_file` does, one pair at a time (in Beam, one per element).
    """
    names = read_class_names(root / "classes.txt")
    images = _image_files(root / "images")
    labels = {p.stem: p for p in sorted((root / "labels").glob("*.txt"))}
    problems = [Problem(f"labels/{labels[stem].name}", LABEL_WITHOUT_IMAGE,
                        f"no images/{stem}.png or .jpg for this label file")
                for stem in sorted(set(labels) - set(images))]
    pairs = []
    for stem, image in images.items():
        rel = f"images/{image.name}"
        if stem not in labels:
            problems.append(Problem(rel, IMAGE_WITHOUT_LABEL, f"no labels/{stem}.txt (an empty one means no objects)"))
        else:
            pairs.append((rel, f"labels/{labels[stem].name}"))
    return names, pairs, problems


def parse_yolo_file(text: str, image: str, label: str, num_classes: int
                    ) -> Tuple[Optional[LabelledImage], List[Problem]]:
    """One label file's text -> (the labelled image, or None when any line is invalid; its problems)."""
    classes, boxes, bad = parse_yolo_label(text, num_classes)
    problems = [Problem(label, kind, detail) for kind, detail in bad]
    return (None if bad else LabelledImage(image, tuple(classes), tuple(boxes))), problems


def scan_yolo(root: Path) -> DetectionScan:
    names, pairs, problems = list_yolo(root)
    good: List[LabelledImage] = []
    for image, label in pairs:
        item, bad = parse_yolo_file((root / label).read_text(), image, label, len(names))
        problems += bad
        if item:
            good.append(item)
    return DetectionScan(root, "yolo", names, tuple(good), tuple(problems))


def parse_coco(doc: dict, image_files: Sequence[str]) -> Tuple[Tuple[str, ...], List[LabelledImage], List[Problem]]:
    """A COCO document -> (class names, labelled images, problems). `image_files`: names under images/.

    Category ids map to class indices in id order. ``iscrowd`` annotations are ignored.
    """
    try:
        categories = sorted(doc["categories"], key=lambda c: c["id"])
        index = {c["id"]: i for i, c in enumerate(categories)}
        entries = {im["id"]: im for im in doc["images"]}
        annotations = doc.get("annotations", [])
    except (KeyError, TypeError) as err:
        raise DataError(f"annotations.json is not COCO ({err!r} missing); it needs 'images', "
                        "'annotations' and 'categories' lists") from None
    on_disk = set(image_files)
    problems: List[Problem] = []
    per_image: Dict[int, List[Tuple[int, Box]]] = {i: [] for i in entries}
    bad_images = set()
    for ann in annotations:
        image_id, what = ann.get("image_id"), f"annotation {ann.get('id')}"
        if image_id not in entries:
            problems.append(Problem(what, LABEL_WITHOUT_IMAGE, f"image_id {image_id} is not in 'images'"))
            continue
        if ann.get("iscrowd"):
            continue
        im, file = entries[image_id], f"images/{entries[image_id]['file_name']}"
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
            width, height = float(im["width"]), float(im["height"])
            box = ((x + w / 2) / width, (y + h / 2) / height, w / width, h / height)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            problems.append(Problem(file, MALFORMED, f"{what} has no valid bbox [x, y, w, h] or image size"))
            bad_images.add(image_id)
            continue
        cls = index.get(ann.get("category_id"), -1)
        bad = check_box(cls, box, len(categories))
        if bad:
            detail = bad[1] if bad[0] != UNKNOWN_CLASS else f"category_id {ann.get('category_id')} is not in 'categories'"
            problems.append(Problem(file, bad[0], f"{what}: {detail}"))
            bad_images.add(image_id)
        else:
            per_image[image_id].append((cls, box))
    good = []
    for image_id, im in sorted(entries.items()):
        if im["file_name"] not in on_disk:
            problems.append(Problem(f"images/{im['file_name']}", LABEL_WITHOUT_IMAGE, "listed in annotations.json but not on disk"))
        elif image_id not in bad_images:
            objs = per_image[image_id]
            good.append(LabelledImage(f"images/{im['file_name']}", tuple(c for c, _ in objs), tuple(b for _, b in objs)))
    listed = {im["file_name"] for im in entries.values()}
    problems += [Problem(f"images/{f}", IMAGE_WITHOUT_LABEL, "not listed in annotations.json")
                 for f in sorted(on_disk - listed)]
    return tuple(str(c.get("name", c["id"])) for c in categories), good, problems


def scan_coco(root: Path) -> DetectionScan:
    path = root / "annotations.json"
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err.__class__.__name__}); fix or re-export it") from None
    files = [p.name for p in _image_files(root / "images").values()]
    names, good, problems = parse_coco(doc, files)
    return DetectionScan(root, "coco", names, tuple(good), tuple(problems))


def folder_format(root: Path) -> str:
    """"coco" or "yolo" by the folder's layout; raises :class:`DataError` for neither."""
    if (root / "annotations.json").is_file():
        return "coco"
    if (root / "labels").is_dir() or (root / "classes.txt").is_file():
        return "yolo"
    raise DataError(f"{root} is neither a YOLO folder (images/, labels/, classes.txt) nor a COCO folder "
                    "(annotations.json, images/); arrange the data in one of these layouts")


def scan_detection_folder(path, max_bad_fraction: float = 0.05) -> DetectionScan:
    """Reads a YOLO or COCO folder; raises :class:`DataError` when it is unusable or too many files are bad."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"detection data folder {root} does not exist; pass --data with a YOLO folder "
                        "(images/, labels/, classes.txt) or a COCO folder (annotations.json, images/)")
    scan = scan_coco(root) if folder_format(root) == "coco" else scan_yolo(root)
    for p in scan.problems:
        log.warning("skipping %s: %s: %s", p.file, p.kind, p.detail)
    if not scan.images:
        raise DataError(f"{root} has no image with valid labels ({len(scan.problems)} problems, e.g. "
                        f"{scan.problems[0].detail if scan.problems else 'no images'}); fix the labels")
    check_bad_fraction(scan, max_bad_fraction)
    return scan


def check_bad_fraction(scan: DetectionScan, max_bad_fraction: float, report_path: Optional[Path] = None) -> None:
    """Raises :class:`DataError` when more than `max_bad_fraction` of the files have invalid labels."""
    if scan.bad_fraction <= max_bad_fraction:
        return
    kinds = ", ".join(f"{k} {n}" for k, n in Counter(p.kind for p in scan.problems).items())
    first = scan.problems[0]
    where = f"e.g. {first.file}: {first.detail}" + (f"; all named in {report_path}" if report_path else "")
    raise DataError(f"{len(scan.bad_files)} of {len(scan.images) + len(scan.bad_files)} files in {scan.root} have "
                    f"invalid labels ({scan.bad_fraction:.0%} > data.max_bad_fraction={max_bad_fraction:.0%}; "
                    f"{kinds}; {where}); fix them, or raise data.max_bad_fraction")
