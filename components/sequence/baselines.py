"""Baselines the RNN must beat, and the metrics that compare them, on the same eval windows.

Forecast (windows (N, W, F) of raw values, the target column at ``target_index``):

* persistence: every future step repeats the window's last value;
* seasonal-naive: step h repeats the value one season before it (inside the window).

Classify: a shallow model, a logistic regression on each feature's mean and standard
deviation over the steps: it sees what the sequence contains but not the order.
"""
from __future__ import annotations

from typing import Dict

import numpy as np


def persistence(windows: np.ndarray, target_index: int, horizon: int) -> np.ndarray:
    """(N, W, F) -> (N, H): the last observed target value, H times."""
    return np.repeat(windows[:, -1:, target_index], horizon, axis=1)


def seasonal_naive(windows: np.ndarray, target_index: int, horizon: int, season: int) -> np.ndarray:
    """(N, W, F) -> (N, H): step h (0-based, time W + h) takes the value at W + h - season."""
    w = windows.shape[1]
    if not horizon <= season <= w:
        raise ValueError(f"season={season} must lie between horizon={horizon} and window={w}")
    return windows[:, w - season:w - season + horizon, target_index]


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
