"""Forecasting on a device: the last window of a CSV -> the next `horizon` values. No TensorFlow.

The model info's ``forecast`` block says what the model takes and returns::

    {"window": W, "horizon": H, "features": ["temp", ...], "target": "temp"}

The .tflite takes raw values (B, W, F) float32, F = len(features) in that order (an int8 or
int16x8 model's integer input is quantized, and its integer output dequantized, with their scale
and zero point by :class:`EdgeModel`), and returns (B, H) in the target's units.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import numpy as np

from edgeflow.edge.runtime import EdgeModel, EdgeRuntimeError


@dataclass
class Forecast:
    source: str
    target: str
    values: List[float]  # (H,) the next horizon steps, in the target's units


def forecast_spec(info: dict) -> dict:
    """The model info's ``forecast`` block, checked: window, horizon, features, target."""
    spec = info.get("forecast")
    if not isinstance(spec, dict) or not {"window", "horizon", "features", "target"} <= set(spec):
        raise EdgeRuntimeError("the model info has task 'forecast' but no forecast block with window, horizon, "
                               "features and target; export the model again")
    return spec


def read_window(path: str | Path, features: Sequence[str], window: int) -> np.ndarray:
    """The last `window` rows of the CSV at `path`, columns `features` in that order -> (W, F) float32."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in features if c not in header]
            if missing:
                raise EdgeRuntimeError(f"{path} has no column {missing[0]!r} (columns: {', '.join(header) or 'none'}); "
                                       f"the model needs the columns {', '.join(features)}")
            rows = [(n, [row[c] for c in features]) for n, row in enumerate(reader, start=2)][-window:]
    except (OSError, UnicodeDecodeError) as err:
        raise EdgeRuntimeError(f"{path} cannot be read as a CSV file ({err.__class__.__name__}); "
                               "give a CSV file with a header row") from None
    if len(rows) < window:
        raise EdgeRuntimeError(f"{path} has {len(rows)} data rows but the model needs the last {window}; "
                               f"give at least {window} rows")
    out = np.empty((window, len(features)), np.float32)
    for i, (line, values) in enumerate(rows):
        for j, (column, value) in enumerate(zip(features, values)):
            try:
                out[i, j] = float(value)
            except (TypeError, ValueError):
                raise EdgeRuntimeError(f"{path} line {line}: column {column!r} is {value!r}, not a number; "
                                       "fill in or drop that row") from None
            if not np.isfinite(out[i, j]):
                raise EdgeRuntimeError(f"{path} line {line}: column {column!r} is {value!r}, not a finite number; "
                                       "fill in or drop that row")
    return out


def forecast(model: EdgeModel, csv_files: Sequence[str | Path]) -> List[Forecast]:
    """The next `horizon` values of the target after the last window of each CSV file."""
    spec = forecast_spec(model.info)
    window, features = int(spec["window"]), list(spec["features"])
    expected = (window, len(features))
    if model.input_shape[1:] != expected:
        raise EdgeRuntimeError(f"the model takes windows of shape {model.input_shape[1:]} but its info says "
                               f"{expected} (window x features); the .tflite and its JSON do not belong together")
    x = np.stack([read_window(p, features, window) for p in csv_files])  # (N, W, F)
    y = model.run(x).reshape(len(x), -1)  # (N, H)
    return [Forecast(str(p), str(spec["target"]), [float(v) for v in row]) for p, row in zip(csv_files, y)]
