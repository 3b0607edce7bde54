"""Bundled sequence data, read from installed packages (nothing is downloaded).

* forecast: vega_datasets' ``seattle-temps.csv``, the hourly temperatures (deg F) of
  Seattle in 2010 (8,759 rows, ``date,temp``);
* classify: scikit-learn's digits read row by row, each 8x8 image a sequence of 8 steps
  of 8 features (the classic sequential-digits task), as ``sequence_id,step,f0..f7,label``.

Both are written once as CSV under the output folder and then ingested like a user's file.
"""
from __future__ import annotations

import csv
import logging
from importlib import resources
from pathlib import Path
from typing import Optional

log = logging.getLogger("edgeflow")


def _done(path: Path) -> bool:
    return path.exists() and Path(str(path) + ".complete").exists()


def write_seattle_temps_csv(root: Path, limit: Optional[int] = None) -> Path:
    """The first `limit` rows (all when None) of seattle-temps as ``<root>/seattle-temps[-N].csv``."""
    out = Path(root) / ("seattle-temps.csv" if limit is None else f"seattle-temps-{limit}.csv")
    if _done(out):
        return out
    import numpy as np

    from edgeflow.components.sequence.data import parse_series

    lines = (resources.files("vega_datasets") / "_data" / "seattle-temps.csv").read_text().splitlines()
    rows = [(n + 2, line.split(",")) for n, line in enumerate(lines[1:]) if line.strip()]
    # The source lacks the hour skipped by daylight saving time (2010-03-14 02:00); interpolate it.
    series = parse_series(lines[0].split(","), rows, fill="interpolate")
    n = len(series.values) if limit is None else min(limit, len(series.values))
    out.parent.mkdir(parents=True, exist_ok=True)
    stamps = np.datetime_as_string(series.times[:n], unit="m")
    out.write_text("date,temp\n" + "".join(f"{t},{v:.1f}\n" for t, v in zip(stamps, series.values[:n, 0])))
    Path(str(out) + ".complete").write_text("ok\n")
    log.info("wrote %d hourly Seattle temperatures to %s", n, out)
    return out


def write_digit_sequences_csv(root: Path, limit: Optional[int] = None) -> Path:
    """The first `limit` digits (all 1,797 when None) as 8-step sequences: ``<root>/digit-sequences[-N].csv``."""
    from sklearn.datasets import load_digits

    out = Path(root) / ("digit-sequences.csv" if limit is None else f"digit-sequences-{limit}.csv")
    if _done(out):
        return out
    digits = load_digits()
    n = len(digits.images) if limit is None else min(limit, len(digits.images))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sequence_id", "step"] + [f"f{i}" for i in range(8)] + ["label"])
        for i in range(n):
            for step, row in enumerate(digits.images[i]):  # (8 steps, 8 features), values 0..16
                writer.writerow([f"d{i:04d}", step] + [int(v) for v in row] + [int(digits.target[i])])
    Path(str(out) + ".complete").write_text("ok\n")
    log.info("wrote %d digit sequences to %s", n, out)
    return out
