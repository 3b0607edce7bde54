"""Baselines on hand-made series whose answer is known."""
import numpy as np
import pytest

from edgeflow.components.sequence import baselines as bl
from edgeflow.components.sequence.evaluator import decide_blessing, forecast_report


def windows_of(series, window, horizon):
    starts = range(len(series) - window - horizon + 1)
    x = np.stack([series[i:i + window] for i in starts])[:, :, None]  # (N, W, 1)
    y = np.stack([series[i + window:i + window + horizon] for i in starts])  # (N, H)
    return x, y


def test_persistence_on_a_ramp_is_off_by_the_steps_ahead():
    x, y = windows_of(np.arange(30.0), window=5, horizon=3)
    errs = bl.forecast_errors(y, bl.persistence(x, 0, 3))
    assert errs["mae_per_step"] == pytest.approx([1.0, 2.0, 3.0])
    assert errs["mae"] == pytest.approx(2.0) and errs["rmse"] == pytest.approx(np.sqrt((1 + 4 + 9) / 3))


def test_seasonal_naive_is_exact_on_a_periodic_series():
    series = np.tile([0.0, 5.0, 1.0, 3.0], 10)  # season 4
    x, y = windows_of(series, window=8, horizon=3)
    assert bl.forecast_errors(y, bl.seasonal_naive(x, 0, 3, season=4))["mae"] == 0.0
    assert bl.forecast_errors(y, bl.persistence(x, 0, 3))["mae"] > 1.0
    report = forecast_report(y, y + 0.5, x, 0, season=4)  # a model 0.5 off everywhere
    assert report["baseline.best_mae"] == 0.0
    assert decide_blessing("forecast", report, 1.0).blessed is False  # it does not beat seasonal-naive


def test_a_model_better_than_the_baselines_is_blessed():
    x, y = windows_of(np.arange(30.0), window=5, horizon=2)
    report = forecast_report(y, y + 0.1, x, 0, season=2)
    assert report["baseline.persistence.mae"] == pytest.approx(1.5)  # 1 and 2 steps behind
    assert report["baseline.seasonal_naive.mae"] == pytest.approx(2.0)  # a season = 2 steps back
    assert report["mae_ratio_to_best_baseline"] == pytest.approx(0.1 / 1.5)
    verdict = decide_blessing("forecast", report, 0.8)
    assert verdict.blessed and "0.067 x the best baseline" in verdict.reason
    assert "(bar: < 0.8, sequence.max_baseline_ratio)" in verdict.reason


def test_shallow_classifier_sees_content_not_order():
    rng = np.random.default_rng(0)
    high = rng.normal(1.0, 0.1, (40, 6, 1))
    low = rng.normal(-1.0, 0.1, (40, 6, 1))
    x, y = np.concatenate([high, low]), np.array([1] * 40 + [0] * 40)
    probs = bl.shallow_classifier(x, y, x)
    assert bl.classification_metrics(y, probs, 2)["accuracy"] == 1.0
    # the same steps in another order: a rising and a falling ramp look alike to it
    ramp = np.arange(6.0)[None, :, None]
    x2, y2 = np.concatenate([np.repeat(ramp, 20, 0), np.repeat(ramp[:, ::-1], 20, 0)]), np.array([0] * 20 + [1] * 20)
    probs = bl.shallow_classifier(x2, y2, x2)
    np.testing.assert_array_equal(probs[:20], probs[20:])  # it cannot tell them apart
