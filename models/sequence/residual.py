"""What Holt-Winters misses, corrected linearly: the forecaster's ridge head (issue 20).

The in-graph Holt-Winters anchor (models/sequence/smoothing.py) follows the level and the daily
season of a window, but not what a smoothing recursion cannot express: a noise that reverts to a
local mean, a second (weekly) cycle, a season that grows with the level. Measured offline
(benchmarks/forecast_sources.py, BENCHMARKS.md: its first two groups, W = 48 against W = 192), a
ridge regression of the anchor's residual on window features recovers much of it; this head uses
three groups (the third and the clipping alone were measured in a scratch run only, see issue 20; the
default run with all of it is BENCHMARKS.md's "the default with the ridge head"):

* the anchor's last S one-step errors (S = ``sequence.season``): what smoothing missed lately;
* with a window of at least a week plus a day (W >= 8 S), the errors and the value changes one
  week (7 S rows) before those last S rows: the weekly cycle;
* every value of the window minus the last one: the local mean a noisy level reverts to.

:class:`ResidualFeatures` computes them in the graph, clipped to the range the train windows
showed (a level shift after training then saturates them instead of extrapolating a reversion),
and the model adds a frozen ``Dense`` whose weights :func:`fit_ridge` found in closed form on the
fitted train windows, with the penalty chosen on the held-out validation windows. The RNN then
learns what is still left, starting from a zero correction.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)  # ridge penalties tried, per 1,000 windows
CLIP_PERCENT = 0.5  # features clipped to their train 0.5th .. 99.5th percentiles
WEEK_AND_DAY = 8  # seasons in a window that holds a week (7 seasons) before its last season


def weekly(window: int, season: int) -> bool:
    """Whether a window of `window` rows holds a week (7 seasons) before its last season."""
    return window >= WEEK_AND_DAY * season


@tf.keras.utils.register_keras_serializable(package="edgeflow")
class ResidualFeatures(tf.keras.layers.Layer):
    """[(B, W, F) standardized window, (B, W, 1) one-step errors] -> (B, K) clipped features (see module doc).

    Args: season S; target_index; low, high: (K,) clip bounds (None: unclipped, to fit them).
    """

    def __init__(self, season: int, target_index: int = 0, low: Sequence[float] = None,
                 high: Sequence[float] = None, **kwargs):
        super().__init__(**kwargs)
        self.season, self.target_index = int(season), int(target_index)
        self.low = None if low is None else [float(v) for v in low]
        self.high = None if high is None else [float(v) for v in high]

    def call(self, inputs):
        window, errors = inputs
        s, y, e = self.season, window[:, :, self.target_index], errors[:, :, 0]  # (B, W), (B, W)
        w = y.shape[1]
        parts = [e[:, w - s:]]  # (B, S)
        if weekly(w, s):
            week = slice(w - 7 * s - s, w - 7 * s)  # the S rows one week before the last S rows
            parts += [e[:, week], y[:, week] - y[:, w - s:]]  # (B, S) each
        parts.append(y - y[:, w - 1:])  # (B, W): each value minus the last
        f = tf.concat(parts, axis=1)
        if self.low is not None:
            f = tf.clip_by_value(f, tf.constant(self.low, f.dtype), tf.constant(self.high, f.dtype))
        return f

    def clip(self, features: np.ndarray) -> np.ndarray:
        """NumPy: (N, K) features clipped to this layer's bounds, as its graph does."""
        return np.clip(features, self.low, self.high)

    def get_config(self):
        return {**super().get_config(), "season": self.season, "target_index": self.target_index,
                "low": self.low, "high": self.high}


def _solve(f: np.ndarray, r: np.ndarray, lam: float) -> Tuple[np.ndarray, np.ndarray]:
    """Ridge with an unpenalized bias on RMS-scaled features: (K, H) kernel and (H,) bias."""
    mean_f, mean_r = f.mean(axis=0), r.mean(axis=0)
    fc, rc = f - mean_f, r - mean_r
    scale = np.sqrt((fc ** 2).mean(axis=0)) + 1e-9
    fs = fc / scale
    k = np.linalg.solve(fs.T @ fs + lam * len(f) / 1000.0 * np.eye(f.shape[1]), fs.T @ rc) / scale[:, None]
    return k, mean_r - mean_f @ k


def fit_ridge(features: np.ndarray, residual: np.ndarray, val_features: np.ndarray,
              val_residual: np.ndarray) -> Dict[str, object]:
    """The ridge head: penalty chosen on (validation) MAE, then refitted on fitted + validation windows.

    features (N, K) from :class:`ResidualFeatures` (clipped), residual (N, H) = targets - anchor.
    Returns kernel (K, H), bias (H,), lambda, and the validation MAE with no head and with the chosen one.
    """
    f, r = np.asarray(features, np.float64), np.asarray(residual, np.float64)
    vf, vr = np.asarray(val_features, np.float64), np.asarray(val_residual, np.float64)
    maes = {}
    for lam in LAMBDAS:
        k, b = _solve(f, r, lam)
        maes[lam] = float(np.abs(vf @ k + b - vr).mean())
    lam = min(maes, key=maes.get)
    kernel, bias = _solve(np.concatenate([f, vf]), np.concatenate([r, vr]), lam)
    return {"kernel": kernel, "bias": bias, "lambda": lam, "val_mae_anchor": float(np.abs(vr).mean()),
            "val_mae_head": maes[lam]}


def clip_bounds(features: np.ndarray) -> Tuple[list, list]:
    """(K,) low and high clip bounds: the train features' CLIP_PERCENT and 100 - CLIP_PERCENT percentiles."""
    f = np.asarray(features, np.float64)
    return (np.percentile(f, CLIP_PERCENT, axis=0).tolist(), np.percentile(f, 100 - CLIP_PERCENT, axis=0).tolist())
