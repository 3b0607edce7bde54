"""What Holt-Winters misses, corrected linearly: the forecaster's ridge heads (issue 20).

The in-graph Holt-Winters anchor (models/sequence/smoothing.py) follows the level and the daily
season of a window, but not what a smoothing recursion cannot express: a noise that reverts to a
local mean, a second (weekly) cycle, a season that grows with the level. Two linear heads, fitted in
closed form, forecast what the anchor misses, and differ in what they start from and how far back
they look:

* ``reach="long"``: the last value plus a ridge regression on every value of the window minus the
  last one: a direct linear autoregression over the whole window, which holds a week and a day of
  hourly rows by default, so the weekly cycle's phase, the local mean a noisy level reverts to and
  the season's shape. Measured on held-out series (BENCHMARKS.md, "the long head from the last
  value"), it beats the same features added to the anchor: the anchor's phase pick and its smoothed
  state put errors into the base that no linear head removes;
* ``reach="short"``: the anchor plus a ridge regression on its last S one-step errors (S =
  ``sequence.season``), with a window of at least a week plus a day (W >= 8 S) the errors one week
  (7 S rows) before those last S rows and the week-before value changes minus their own mean (the
  weekly cycle's shape, not its level), and only the last 2 S values minus the last one.

A level shift inside a window turns every long-reach feature into the shift itself, and the long
head, fitted on windows without one, forecasts a reversion that never comes (BENCHMARKS.md, "the
range switch": 1.48x Holt-Winters on a held-out level shift). :class:`RangeSwitch` therefore uses the
long head only on windows whose profile of season means (each season's mean minus the last
season's) lies inside the range the fitted train windows showed, and the short head, which forgets a
shift after two seasons, on the others.

:class:`ResidualFeatures` computes each head's features in the graph (the short head's clipped to the
range the train windows showed; the long head's unclipped, so a trend may carry its values beyond
that range), and each head is a frozen ``Dense`` whose weights :func:`fit_ridge` found in closed form
on the fitted train windows, with the penalty chosen on the held-out validation windows. The RNN then
learns what is still left, starting from a zero correction.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)  # ridge penalties tried, per 1,000 windows
CLIP_PERCENT = 0.5  # features clipped to their train 0.5th .. 99.5th percentiles
WEEK_AND_DAY = 8  # seasons in a window that holds a week (7 seasons) before its last season
REACHES = ("long", "short")  # the two heads' features and bases (module doc)
CLIPPED = {"long": False, "short": True}  # whose features are clipped to the train range
SHARP = 1e4  # the range switch is fully on 1e-4 standardized units outside the train range


def weekly(window: int, season: int) -> bool:
    """Whether a window of `window` rows holds a week (7 seasons) before its last season."""
    return window >= WEEK_AND_DAY * season


@tf.keras.utils.register_keras_serializable(package="edgeflow")
class ResidualFeatures(tf.keras.layers.Layer):
    """[(B, W, F) standardized window, (B, W, 1) one-step errors] -> (B, K) features (see module doc);
    the long reach reads only the window's values.

    Args: season S; target_index; low, high: (K,) clip bounds (None: unclipped, to fit them); reach:
    ``long`` or ``short`` (module doc).
    """

    def __init__(self, season: int, target_index: int = 0, low: Sequence[float] = None,
                 high: Sequence[float] = None, reach: str = "long", **kwargs):
        super().__init__(**kwargs)
        if reach not in REACHES:
            raise ValueError(f"reach must be one of {REACHES}, not {reach!r}")
        self.season, self.target_index, self.reach = int(season), int(target_index), reach
        self.low = None if low is None else [float(v) for v in low]
        self.high = None if high is None else [float(v) for v in high]

    def call(self, inputs):
        window, errors = inputs
        s, y, e = self.season, window[:, :, self.target_index], errors[:, :, 0]  # (B, W), (B, W)
        w = y.shape[1]
        if self.reach == "long":
            f = y - y[:, w - 1:]  # (B, W) every value minus the last
            return f if self.low is None else tf.clip_by_value(f, tf.constant(self.low, f.dtype),
                                                                 tf.constant(self.high, f.dtype))
        parts = [e[:, w - s:]]  # (B, S)
        if weekly(w, s):
            week = slice(w - 7 * s - s, w - 7 * s)  # the S rows one week before the last S rows
            change = y[:, week] - y[:, w - s:]  # (B, S)
            change = change - tf.reduce_mean(change, axis=1, keepdims=True)  # the weekly shape, not the level
            parts += [e[:, week], change]  # (B, S) each
        parts.append(y[:, max(w - 2 * s, 0):] - y[:, w - 1:])  # the last 2 S values, each minus the last
        f = tf.concat(parts, axis=1)
        if self.low is not None:
            f = tf.clip_by_value(f, tf.constant(self.low, f.dtype), tf.constant(self.high, f.dtype))
        return f

    def clip(self, features: np.ndarray) -> np.ndarray:
        """NumPy: (N, K) features clipped to this layer's bounds, as its graph does."""
        return features if self.low is None else np.clip(features, self.low, self.high)

    def get_config(self):
        return {**super().get_config(), "season": self.season, "target_index": self.target_index,
                "low": self.low, "high": self.high, "reach": self.reach}


def season_profile(windows, season: int, target_index: int = 0):
    """(B, W, F) windows (NumPy or tensor) -> (B, W // S - 1): the mean of each whole season of the window
    (counted back from its end) minus the last season's mean; empty for a window of under two seasons."""
    y = windows[:, :, target_index]
    k = int(y.shape[1]) // season
    if k < 2:
        return y[:, :0]
    seasons = tf.reduce_mean(tf.reshape(y[:, int(y.shape[1]) - k * season:], [-1, k, season]), axis=2)  # (B, k)
    return seasons[:, :-1] - seasons[:, -1:]


@tf.keras.utils.register_keras_serializable(package="edgeflow")
class RangeSwitch(tf.keras.layers.Layer):
    """[(B, W, F) window, (B, H) long-head correction, (B, H) short-head correction] -> (B, H): the long
    head's where the window's :func:`season_profile` lies inside [low, high] (the fitted train windows'
    range), the short head's elsewhere (module doc).

    Args: season S; target_index; low, high: (W // S - 1,) the profile's train minimum and maximum.
    """

    def __init__(self, season: int, low: Sequence[float], high: Sequence[float], target_index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.season, self.target_index = int(season), int(target_index)
        self.low, self.high = [float(v) for v in low], [float(v) for v in high]

    def outside(self, window):
        """(B, W, F) -> (B, 1): 0.0 inside the train range, 1.0 from 1 / SHARP outside it."""
        if not self.low:  # under two seasons: no profile, always the long head
            return tf.zeros_like(window[:, :1, 0])
        p = season_profile(window, self.season, self.target_index)  # (B, K)
        beyond = tf.nn.relu(tf.constant(self.low, p.dtype) - p) + tf.nn.relu(p - tf.constant(self.high, p.dtype))
        # a step written as min(SHARP x, 1): no comparison or cast op, so integer TFLite files keep it
        return tf.minimum(SHARP * tf.reduce_max(beyond, axis=1, keepdims=True), 1.0)

    def call(self, inputs):
        window, long, short = inputs
        return long + self.outside(window) * (short - long)

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

    features (N, K) from :class:`ResidualFeatures`, residual (N, H) = targets - the head's base.
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
