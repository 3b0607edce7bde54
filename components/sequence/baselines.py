"""Baselines the RNN must beat, and the metrics that compare them, on the same eval windows.

Forecast (windows (N, W, F) of raw values, the target column at ``target_index``):

* persistence: every future step repeats the window's last value;
* seasonal-naive: step h repeats the value one season before it (inside the window);
* seasonal-drift: the seasonal-naive value plus the last seasonal change (the window's last
  value minus the value one season before it), exact on a periodic series with a linear trend;
* Holt-Winters: additive level, trend and season (statsmodels' ``ExponentialSmoothing``),
  fitted on the train part of the series only, then rolled forward over the whole series with
  those parameters fixed: the forecast for a window uses the smoothing state at the window's
  end, so it sees the history up to the end and nothing after it (no refit, no peeking).

The first three read only the window; Holt-Winters reads the series, which the evaluator
rebuilds from the examples (:func:`series_from_examples`).

Classify: a shallow model, a logistic regression on each feature's mean and standard
deviation over the steps: it sees what the sequence contains but not the order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from edgeflow import EdgeflowError
from edgeflow.config.sequence import FORECAST_BASELINES


class BaselineError(EdgeflowError):
    """A forecast baseline cannot be computed on the data as given."""


def persistence(windows: np.ndarray, target_index: int, horizon: int) -> np.ndarray:
    """(N, W, F) -> (N, H): the last observed target value, H times."""
    return np.repeat(windows[:, -1:, target_index], horizon, axis=1)


def seasonal_naive(windows: np.ndarray, target_index: int, horizon: int, season: int) -> np.ndarray:
    """(N, W, F) -> (N, H): step h (0-based, time W + h) takes the value at W + h - season."""
    w = windows.shape[1]
    if not horizon <= season <= w:
        raise ValueError(f"season={season} must lie between horizon={horizon} and window={w}")
    return windows[:, w - season:w - season + horizon, target_index]


def seasonal_drift(windows: np.ndarray, target_index: int, horizon: int, season: int) -> np.ndarray:
    """(N, W, F) -> (N, H): x[W + h - season] + (x[W - 1] - x[W - 1 - season]), the seasonal value plus the last seasonal change."""
    w = windows.shape[1]
    if not horizon <= season < w:
        raise ValueError(f"season={season} must lie between horizon={horizon} and window={w} - 1")
    x = windows[:, :, target_index]  # (N, W)
    return x[:, w - season:w - season + horizon] + (x[:, -1:] - x[:, w - 1 - season:w - season])


@dataclass(frozen=True)
class HoltWinters:
    """Additive Holt-Winters parameters (statsmodels' names: smoothing_level, _trend, _seasonal; initial_*)."""

    alpha: float
    beta: float
    gamma: float
    level: float  # l_0
    trend: float  # b_0
    seasons: Tuple[float, ...]  # s_0 .. s_{m-1}, the season of rows 0 .. m - 1

    @property
    def season(self) -> int:
        return len(self.seasons)


def fit_holt_winters(train: np.ndarray, season: int) -> HoltWinters:
    """Fits additive trend + additive season on `train` (T,) with statsmodels (initial state estimated too)."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    train = np.asarray(train, np.float64)
    if len(train) < 2 * season + 2 or not np.isfinite(train).all():
        raise BaselineError(f"the Holt-Winters baseline needs at least two seasons ({2 * season + 2} steps) of complete "
                            f"train data, got {len(train)} steps; use a longer series or drop holt_winters from "
                            "sequence.baselines")
    with warnings.catch_warnings():  # ConvergenceWarning on easy series: the fit is still the optimizer's best
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(train, trend="add", seasonal="add", seasonal_periods=season,
                                   initialization_method="estimated").fit()
    p = fit.params
    return HoltWinters(float(p["smoothing_level"]), float(p["smoothing_trend"]), float(p["smoothing_seasonal"]),
                       float(p["initial_level"]), float(p["initial_trend"]), tuple(map(float, p["initial_seasons"])))


def holt_winters_forecasts(series: np.ndarray, hw: HoltWinters, ends: Sequence[int], horizon: int) -> np.ndarray:
    """(K, H): for each end e, the forecast of rows e .. e + H - 1 from the smoothing state after rows 0 .. e - 1.

    One pass of the recursions over the series (statsmodels' form and indexing) that keeps the
    state only at the ends, then one gather: O(T + K H) time, O(K H + m) memory besides the series.
    A NaN row (not observed, e.g. the gap between the train and eval windows) carries the state
    forward unchanged: level += trend, season kept. Rows at or after the last end are never read.
    """
    from collections import deque

    m, ends = hw.season, np.asarray(ends, np.int64)
    if horizon > m:
        raise ValueError(f"horizon={horizon} must be at most the season={m}")
    wanted, where = np.unique(ends, return_inverse=True)  # sorted ends; where: each end's place among them
    y = np.asarray(series, np.float64)[:int(wanted[-1])]
    a, b, g = hw.alpha, hw.beta, hw.gamma
    lvl, trd = hw.level, hw.trend  # the state after i rows
    ring = deque(hw.seasons)  # s[i] .. s[i + m - 1] after i rows (s[t]: the season of row t, known after row t - m)
    kept_l, kept_t, kept_s = [], [], []  # the state at each wanted end
    nxt = 0
    for i in range(len(y) + 1):
        while nxt < len(wanted) and wanted[nxt] == i:
            kept_l.append(lvl)
            kept_t.append(trd)
            kept_s.append(list(ring)[:horizon])
            nxt += 1
        if i == len(y):
            break
        v = float(y[i])
        base, season = lvl + trd, ring.popleft()  # season: s[i] (the row's own)
        if v != v:  # NaN: not observed
            lvl, ring_value = base, season
        else:
            new = a * (v - season) + (1 - a) * base
            trd = b * (new - lvl) + (1 - b) * trd
            lvl, ring_value = new, g * (v - base) + (1 - g) * season
        ring.append(ring_value)
    lvl_e, trd_e, s_e = np.array(kept_l)[where], np.array(kept_t)[where], np.array(kept_s)[where]
    h = np.arange(horizon)  # (H,)
    return lvl_e[:, None] + (h + 1) * trd_e[:, None] + s_e  # (K, H)


def holt_winters(series: np.ndarray, train_end: int, ends: Sequence[int], horizon: int, season: int) -> np.ndarray:
    """(K, H) forecasts at `ends` with parameters fitted on series[:train_end] only."""
    return holt_winters_forecasts(series, fit_holt_winters(series[:train_end], season), ends, horizon)


def series_from_examples(windows: np.ndarray, targets: np.ndarray, first_target_rows: np.ndarray,
                         target_index: int) -> np.ndarray:
    """The target column (T,) rebuilt from forecast examples; NaN for rows no example holds.

    windows (N, W, F), targets (N, H), first_target_rows (N,): the row of each example's first
    target step (``target_step``), so the window holds rows r - W .. r - 1 and the target r .. r + H - 1.
    """
    n, w, _ = windows.shape
    h = targets.shape[1]
    rows = np.asarray(first_target_rows, np.int64)
    series = np.full(int(rows.max()) + h, np.nan)
    series[(rows[:, None] + np.arange(-w, 0)).ravel()] = windows[:, :, target_index].ravel()
    series[(rows[:, None] + np.arange(h)).ravel()] = np.asarray(targets).ravel()
    return series


def forecast_baselines(names: Sequence[str], windows: np.ndarray, target_index: int, horizon: int, season: int,
                       series: Optional[np.ndarray] = None, train_end: Optional[int] = None,
                       ends: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """{name: (N, H) forecasts} for the named baselines on the eval `windows` (N, W, F).

    holt_winters also needs the `series` (T,), the row where its train part ends, and each
    window's end row `ends` (N,) (its first target row).
    """
    unknown = [n for n in names if n not in FORECAST_BASELINES]
    if unknown:
        raise BaselineError(f"unknown forecast baseline(s) {', '.join(unknown)}; choose from {', '.join(FORECAST_BASELINES)}")
    out = {}
    for name in names:
        if name == "persistence":
            out[name] = persistence(windows, target_index, horizon)
        elif name == "seasonal_naive":
            out[name] = seasonal_naive(windows, target_index, horizon, season)
        elif name == "seasonal_drift":
            out[name] = seasonal_drift(windows, target_index, horizon, season)
        else:
            if series is None or train_end is None or ends is None:
                raise ValueError("holt_winters needs series, train_end and ends")
            out[name] = holt_winters(series, train_end, ends, horizon, season)
    return out


def forecast_errors(y: np.ndarray, pred: np.ndarray) -> Dict[str, object]:
    """y, pred (N, H) -> mae, rmse (overall) and mae_per_step, rmse_per_step (H lists)."""
    err = np.asarray(pred, np.float64) - np.asarray(y, np.float64)
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean())),
            "mae_per_step": np.abs(err).mean(axis=0).tolist(),
            "rmse_per_step": np.sqrt((err ** 2).mean(axis=0)).tolist()}


def pooled_features(windows: np.ndarray) -> np.ndarray:
    """(N, W, F) -> (N, 2F): mean and standard deviation of each feature over the steps."""
    return np.concatenate([windows.mean(axis=1), windows.std(axis=1)], axis=1)


def shallow_classifier(train_x: np.ndarray, train_y: np.ndarray, eval_x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fits the order-blind logistic regression on train windows; (N, C) probabilities on eval windows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    model.fit(pooled_features(train_x), train_y)
    probs = np.zeros((len(eval_x), int(max(train_y.max(), 0)) + 1))
    probs[:, model.classes_] = model.predict_proba(pooled_features(eval_x))
    return probs


def classification_metrics(y: np.ndarray, probs: np.ndarray, num_classes: int) -> Dict[str, float]:
    """accuracy, and precision/recall per class id (``precision/class_3``)."""
    pred = np.asarray(probs).argmax(axis=1)
    out = {"accuracy": float((pred == y).mean())}
    for c in range(num_classes):
        tp = float(((pred == c) & (y == c)).sum())
        out[f"precision/class_{c}"] = tp / max(float((pred == c).sum()), 1.0)
        out[f"recall/class_{c}"] = tp / max(float((y == c).sum()), 1.0)
    return out
