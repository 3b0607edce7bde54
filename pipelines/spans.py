"""Span-based ingestion: which folder of a ``{SPAN}``/``{VERSION}`` input pattern a run reads.

A pattern such as ``span-{SPAN}/*/*`` (relative to ``data.path``) names one folder per
span, each holding ``<class>/<image>`` files. TFX's FileBasedExampleGen driver picks the
newest span (and newest version within it) at run time; :func:`resolve_pattern` uses the
same TFX function ahead of the run, so the class names the Trainer gets, the folder the
pre-run check scans and the span the ExampleGen reads are one and the same.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgeflow.components.image.folder import DataError

DEFAULT_PATTERN = "*/*"  # <class>/<image> directly under data.path
_SPEC = re.compile(r"\{(SPAN|VERSION)(:[^}]*)?\}")


@dataclass(frozen=True)
class ResolvedInput:
    pattern: str  # the pattern with {SPAN}/{VERSION} replaced, relative to `root`
    folder: Path  # the folder holding the class sub-folders of the chosen span
    span: Optional[int] = None
    version: Optional[int] = None


def check_pattern(pattern: str) -> None:
    """Raises DataError unless `pattern` ends in ``<class glob>/<image glob>`` (e.g. ``span-{SPAN}/*/*``)."""
    parts = pattern.strip("/").split("/")
    if len(parts) < 2 or any(_SPEC.search(p) for p in parts[-2:]) or pattern.startswith("/"):
        raise DataError(f"data.pattern {pattern!r} must be relative to data.path and end in <class>/<image> "
                        "globs, e.g. span-{SPAN}/*/*")
    if "{VERSION" in pattern and "{SPAN" not in pattern:
        raise DataError(f"data.pattern {pattern!r} has {{VERSION}} without {{SPAN}}; add a {{SPAN}} folder")


def _newest_span_folder(root: Path, pattern: str) -> Optional[int]:
    """The largest span number among existing folders of the pattern (images or not)."""
    span_dir = pattern.strip("/").split("/")[:-2]
    if not span_dir or "{SPAN" not in "/".join(span_dir):
        return None
    regex = re.compile(_SPEC.sub(lambda m: "(?P<span>\\d+)" if m.group(1) == "SPAN" else "\\d+",
                                 re.escape("/".join(span_dir)).replace("\\{", "{").replace("\\}", "}")))
    found = []
    for path in glob.glob(str(root / _SPEC.sub("*", "/".join(span_dir)))):
        m = regex.fullmatch(os.path.relpath(path, root))
        if m and os.path.isdir(path):
            found.append(int(m.group("span")))
    return max(found) if found else None


def resolve_pattern(root: str | Path, pattern: Optional[str]) -> ResolvedInput:
    """The newest span's concrete pattern and folder; `pattern` None means ``*/*`` (no spans)."""
    root = Path(root).expanduser()
    if not pattern or not _SPEC.search(pattern):
        pattern = pattern or DEFAULT_PATTERN
        check_pattern(pattern)
        return ResolvedInput(pattern, root / os.path.dirname(os.path.dirname(pattern.strip("/"))))
    check_pattern(pattern)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; set data.path to the folder that holds the span folders")
    from tfx.components.example_gen import utils
    from tfx.proto import example_gen_pb2

    split = example_gen_pb2.Input.Split(name="images", pattern=pattern)
    try:
        _, span, version = utils.calculate_splits_fingerprint_span_and_version(str(root), [split])
    except ValueError:
        raise DataError(f"data.pattern {pattern!r} matches no files under {root}; put each span's class folders "
                        f"in a folder the pattern names, e.g. {root / _SPEC.sub('1', pattern.split('/')[0])}") from None
    newest = _newest_span_folder(root, pattern)
    if newest is not None and newest > span:
        raise DataError(f"the newest span folder (span {newest}) under {root} has no images matching {pattern!r}; "
                        f"add its images or remove the empty folder (the newest span with images is {span})")
    folder = root / os.path.dirname(os.path.dirname(split.pattern.strip("/")))
    return ResolvedInput(split.pattern, folder, span, version)
