"""Holt-Winters inside the forecaster's graph: the anchor the network corrects (the ES-RNN idea).

The Trainer fits additive Holt-Winters (statsmodels) on the train split's target column, in the
standardized units the network sees, and keeps five things (:class:`Smoothing`): the smoothing
parameters alpha, beta, gamma, the trend at the end of the train part, and the seasonal profile
there (m values, m = ``sequence.season``). They become constants of :class:`HoltWintersAnchor`,
which, for each window (B, W, F), without knowing where in the season the window starts:

1. aligns the profile with the window: the rotation k of the profile that correlates best with the
   window's detrended target values gives the season of every window row (row j <-> profile[(k + j) % m]);
   the pick is a sharp softmax over the m scores, so a full-integer TFLite file can compute it;
2. starts the level at the mean of the first season minus its profile and the trend at the train
   trend, then runs the recursions over the W rows (statsmodels' additive form)::

       base = l + b;  l' = a (y - s) + (1 - a) base;  b' = beta (l' - l) + (1 - beta) b;  s' = g (y - base) + (1 - g) s

   (``init=window``: the first season's own deviations instead of the profile, better where the
   season changes fast, gamma near 1; the Trainer keeps whichever forecasts the train windows better);
3. returns the h-step forecast ``l + (h + 1) b + s[h]`` (B, H) and each row's one-step error
   (B, W, 1), which tells the network what smoothing missed.

The recursions are linear in the window and its first season, so the layer computes steps 2-3 as
two affine maps found once in NumPy (:func:`linear_maps`), a handful of ops instead of ~12 per row.
For a TFLite file with int8 weights (dynamic, int8, int16x8) EdgeExport sets ``split_for_int8`` on
the layer, which then multiplies by each map's two int8-exact parts (:func:`int8_split`), so the int8
weights keep the maps precise; float files keep one matrix per map.

The device needs nothing but the graph: the constants are in it (and in the model info).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Tuple

import numpy as np
import tensorflow as tf


PHASE_SHARPNESS = 1000.0  # softmax temperature of the phase pick, per unit of score (standardized units)


@dataclass(frozen=True)
class Smoothing:
    """Train-split Holt-Winters: parameters, end trend and seasonal profile (standardized units)."""

    alpha: float
    beta: float
    gamma: float
    trend: float
    profile: Tuple[float, ...]  # (m,) the season of m consecutive rows; the phase is found per window
    init: str = "profile"  # the window's first seasons: the aligned train "profile", or the "window"'s first season

    def to_dict(self) -> dict:
        return {**asdict(self), "profile": list(self.profile)}


def contiguous_series(windows: np.ndarray, targets: np.ndarray, first_target_rows: np.ndarray,
                      target_index: int) -> np.ndarray:
    """The target column (T,) rebuilt from forecast examples (window rows r - W .. r - 1, targets r ..
    r + H - 1), rows no example holds filled by linear interpolation."""
    n, w, _ = windows.shape
    rows = np.asarray(first_target_rows, np.int64)
    rows = rows - rows.min() + w
    series = np.full(int(rows.max()) + targets.shape[1], np.nan)
    series[(rows[:, None] + np.arange(-w, 0)).ravel()] = windows[:, :, target_index].ravel()
    series[(rows[:, None] + np.arange(targets.shape[1])).ravel()] = np.asarray(targets).ravel()
    idx = np.arange(len(series))
    seen = np.isfinite(series)
    return np.interp(idx, idx[seen], series[seen])


def fit_smoothing(series: np.ndarray, season: int) -> Smoothing:
    """Fits additive trend + season on `series` (T,) with statsmodels; the state at its end."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = np.asarray(series, np.float64)
    with warnings.catch_warnings():  # ConvergenceWarning on easy series: still the optimizer's best
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=season,
                                   initialization_method="estimated").fit()
    p = fit.params
    a, b, g = (float(p[k]) for k in ("smoothing_level", "smoothing_trend", "smoothing_seasonal"))
    _, trend, seasons = run_recursions(y, a, b, g, float(p["initial_level"]), float(p["initial_trend"]),
                                       np.asarray(p["initial_seasons"], np.float64))
    return Smoothing(a, b, g, float(trend), tuple(float(s) for s in seasons))


def choose_init(sm: Smoothing, windows: np.ndarray, targets: np.ndarray, target_index: int = 0) -> Smoothing:
    """`sm` with the ``init`` whose window forecasts have the lower MAE on (N, W, F) windows -> (N, H) targets."""
    from dataclasses import replace

    maes = {}
    for init in ("profile", "window"):
        cand = replace(sm, init=init)
        pred = HoltWintersAnchor(targets.shape[1], cand.to_dict(), target_index)(windows.astype(np.float32))[0]
        maes[init] = float(np.abs(pred.numpy() - targets).mean())
    return replace(sm, init=min(maes, key=maes.get))


def run_recursions(y, alpha, beta, gamma, level, trend, seasons):
    """NumPy reference: (level, trend, next m seasons) after the additive recursions over `y` (T,)."""
    s = list(seasons)
    for v in np.asarray(y, np.float64):
        base = level + trend
        new_level = alpha * (v - s[0]) + (1 - alpha) * base
        trend = beta * (new_level - level) + (1 - beta) * trend
        s = s[1:] + [gamma * (v - base) + (1 - gamma) * s[0]]
        level = new_level
    return level, trend, np.array(s)


def detrend_matrix(w: int) -> np.ndarray:
    """(W, W): removes a least-squares line from a window (so a trend does not pull the phase)."""
    x = np.stack([np.ones(w), np.arange(w, dtype=np.float64)], axis=1)  # (W, 2)
    return np.eye(w) - x @ np.linalg.solve(x.T @ x, x.T)


def window_forecast(window: np.ndarray, sm: Smoothing, horizon: int) -> np.ndarray:
    """NumPy reference of :class:`HoltWintersAnchor` for one window (W,) of the target: (H,)."""
    m, w = len(sm.profile), len(window)
    prof = np.asarray(sm.profile)
    scores = [np.dot(detrend_matrix(w) @ window, prof[(k + np.arange(w)) % m]) for k in range(m)]
    k = int(np.argmax(scores))
    seasons = prof[(k + np.arange(m)) % m] if sm.init == "profile" else window[:m] - window[:m].mean()
    level = np.mean(window[:m] - seasons) - sm.trend * (m + 1) / 2
    level, trend, s = run_recursions(window, sm.alpha, sm.beta, sm.gamma, level, sm.trend, seasons)
    return level + (np.arange(horizon) + 1) * trend + s[:horizon]


def unrolled_outputs(y: np.ndarray, seasons: np.ndarray, sm: Smoothing, horizon: int):
    """NumPy, batched: windows y (N, W) and their first season (N, m) -> (forecast (N, H), errors (N, W))
    of the recursions started as the module doc says (float64)."""
    m, w = seasons.shape[1], y.shape[1]
    level = np.mean(y[:, :m] - seasons, axis=1) - sm.trend * (m + 1) / 2
    trend = np.full(len(y), sm.trend)
    s = [seasons[:, i] for i in range(m)]
    errors = []
    for j in range(w):
        v, base = y[:, j], level + trend
        errors.append(v - base - s[0])
        new_level = sm.alpha * (v - s[0]) + (1 - sm.alpha) * base
        trend = sm.beta * (new_level - level) + (1 - sm.beta) * trend
        s = s[1:] + [sm.gamma * (v - base) + (1 - sm.gamma) * s[0]]
        level = new_level
    forecast = level[:, None] + np.arange(1, horizon + 1) * trend[:, None] + np.stack(s[:horizon], axis=1)
    return forecast, np.stack(errors, axis=1)


def int8_split(a: np.ndarray):
    """`a` = high + low: ``high`` on the 255-level grid of its largest magnitude, ``low`` the remainder.

    A full-integer TFLite file stores a constant matrix as int8 with one scale per tensor (seen for
    int16x8 FULLY_CONNECTED, TF 2.16): ``high`` then converts exactly and ``low`` to 1 part in 254 of
    itself, so the pair keeps `a` to about 1 part in 60,000 of its largest entry; one int8 matrix would
    keep 1 in 254, too coarse for the anchor's small one-step errors. Float32, as (high, low)."""
    a = np.asarray(a, np.float64)
    scale = max(float(np.abs(a).max()), 1e-30) / 127.0
    high = np.round(a / scale) * scale
    return high.astype(np.float32), (a - high).astype(np.float32)


def linear_maps(sm: Smoothing, w: int, horizon: int):
    """The recursions as affine maps (they are linear in the window and its first season): inputs u = the
    window y (W,) and, with ``init=profile``, the one-hot phase (m,). Returns (forecast map, errors map), each
    (high (K, n), low (K, n), offset (n,)) with u @ (high + low) + offset = the forecast (n = H) or the
    one-step errors (n = W); split by :func:`int8_split`, and apart, so each output keeps its own range."""
    m = len(sm.profile)
    prof = np.asarray(sm.profile, np.float64)
    k = w + (m if sm.init == "profile" else 0)
    u = np.concatenate([np.zeros((1, k)), np.eye(k)])  # (1 + K, K): the origin, then each unit input
    y = u[:, :w]
    if sm.init == "profile":
        seasons = u[:, w:] @ prof[(np.arange(m)[:, None] + np.arange(m)[None, :]) % m]  # phase k: profile[k], ..
    else:
        seasons = y[:, :m] - y[:, :m].mean(axis=1, keepdims=True)
    maps = []
    for out in unrolled_outputs(y, seasons, sm, horizon):  # (1 + K, H), (1 + K, W)
        maps.append((*int8_split(out[1:] - out[0]), out[0].astype(np.float32)))
    return tuple(maps)


@tf.keras.utils.register_keras_serializable(package="edgeflow")
class HoltWintersAnchor(tf.keras.layers.Layer):
    """(B, W, F) standardized windows -> [(B, H) Holt-Winters forecast, (B, W, 1) one-step errors].

    Args: horizon H; target_index (the target column); smoothing: :meth:`Smoothing.to_dict`.
    """

    def __init__(self, horizon: int, smoothing: dict, target_index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.target_index, self.smoothing = int(horizon), int(target_index), dict(smoothing)
        self.sm = Smoothing(**{**smoothing, "profile": tuple(smoothing["profile"])})
        self.split_for_int8 = False  # the maps as high + low parts (:func:`int8_split`); same values, not saved

    def build(self, input_shape):
        w, h = int(input_shape[1]), self.horizon
        self.maps = linear_maps(self.sm, w, h)  # forecast and errors: (W [+ m], n) high and low parts, (n,) offset
        super().build(input_shape)

    def call(self, inputs):
        sm, m = self.sm, len(self.sm.profile)
        y = inputs[:, :, self.target_index]  # (B, W)
        w = y.shape[1]
        u = y
        if sm.init == "profile":  # the phase: the rotation of the profile that fits the window best
            prof = np.asarray(sm.profile, np.float32)
            rot = prof[(np.arange(m)[:, None] + np.arange(w)[None, :]) % m]  # (m, W): rotation k, row j
            score = (detrend_matrix(w) @ rot.T).astype(np.float32)  # (W, m): detrend, then correlate (symmetric)
            # (B, m): one-hot at the best rotation, as a sharp softmax (an argmax has no int16x8 TFLite kernel);
            # rotations whose scores are within about 1 / PHASE_SHARPNESS of the best share the pick
            pick = tf.nn.softmax(PHASE_SHARPNESS * tf.matmul(y, tf.constant(score)), axis=1)
            u = tf.concat([y, pick], axis=1)  # (B, W + m)
        outs = []
        for high, low, offset in self.maps:  # forecast (B, H), then one-step errors (B, W)
            if self.split_for_int8:  # two int8 matrices in a file with int8 weights (set by EdgeExport)
                out = tf.matmul(u, tf.constant(high)) + tf.matmul(u, tf.constant(low))
            else:
                out = tf.matmul(u, tf.constant(high + low))
            outs.append(out + tf.constant(offset))
        return outs[0], outs[1][:, :, None]

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "smoothing": self.smoothing,
                "target_index": self.target_index}
