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
    assert "(bar: < 0.8, sequence.max_baseline_ratio;" in verdict.reason


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


# ---- seasonal-drift and Holt-Winters ------------------------------------------------------

def trended_seasonal(n, season=12, slope=0.05, noise=0.3, walk=0.0, seed=0):
    """(n,): a linear trend, a season of `season` steps, white noise and a random walk of step sd `walk`."""
    t, rng = np.arange(n), np.random.default_rng(seed)
    return (5.0 + slope * t + 2.0 * np.sin(2 * np.pi * t / season) + rng.normal(0, noise, n)
            + np.cumsum(rng.normal(0, walk, n)))


def test_seasonal_drift_is_exact_on_a_periodic_series_with_a_linear_trend():
    series = np.tile([0.0, 5.0, 1.0, 3.0], 10) + 0.7 * np.arange(40)  # season 4, slope 0.7
    x, y = windows_of(series, window=8, horizon=3)
    np.testing.assert_allclose(bl.seasonal_drift(x, 0, 3, season=4), y, atol=1e-9)
    assert bl.forecast_errors(y, bl.seasonal_naive(x, 0, 3, season=4))["mae"] == pytest.approx(4 * 0.7)


def test_holt_winters_beats_seasonal_naive_on_a_trended_seasonal_series():
    series, window, horizon, season = trended_seasonal(900), 24, 6, 12
    ends = np.arange(700, 900 - horizon + 1)  # eval windows end after the train part (600 rows)
    hw = bl.holt_winters(series, 600, ends, horizon, season)  # (K, H)
    y = np.stack([series[e:e + horizon] for e in ends])
    x = np.stack([series[e - window:e] for e in ends])[:, :, None]
    hw_mae = bl.forecast_errors(y, hw)["mae"]
    assert hw_mae < 0.6 * bl.forecast_errors(y, bl.seasonal_naive(x, 0, horizon, season))["mae"]
    assert hw_mae < 0.35  # close to the noise's own MAE, 0.3 * sqrt(2 / pi) = 0.24


def test_rolled_holt_winters_matches_statsmodels_forecast_on_the_first_window():
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    series, season, horizon, first = trended_seasonal(500, seed=1), 12, 6, 430
    params = bl.fit_holt_winters(series[:400], season)
    ours = bl.holt_winters_forecasts(series, params, [first], horizon)[0]
    # statsmodels on the history up to the window's end, with the same parameters fixed
    theirs = ExponentialSmoothing(series[:first], trend="add", seasonal="add", seasonal_periods=season,
                                  initialization_method="known", initial_level=params.level,
                                  initial_trend=params.trend, initial_seasonal=np.array(params.seasons)).fit(
        smoothing_level=params.alpha, smoothing_trend=params.beta, smoothing_seasonal=params.gamma,
        optimized=False).forecast(horizon)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
    # and on the train part's end, statsmodels' own fitted model's forecast
    fitted = ExponentialSmoothing(series[:400], trend="add", seasonal="add", seasonal_periods=season,
                                  initialization_method="estimated").fit()
    np.testing.assert_allclose(bl.holt_winters_forecasts(series, params, [400], horizon)[0],
                               fitted.forecast(horizon), rtol=1e-6, atol=1e-6)


def test_holt_winters_does_not_peek_past_a_windows_end():
    series, ends = trended_seasonal(600, walk=0.3, seed=2), np.array([450, 500, 550])  # a wandering level
    before = bl.holt_winters(series, 400, ends, 6, 12)
    changed = series.copy()
    changed[500:] += 100.0  # everything from the second window's end on
    after = bl.holt_winters(changed, 400, ends, 6, 12)
    np.testing.assert_array_equal(after[:2], before[:2])  # windows ending at or before row 500: unchanged
    assert np.abs(after[2] - before[2]).min() > 1.0  # the third window saw the jump
    changed_train = series.copy()
    changed_train[:400] += np.linspace(0, 5, 400)  # the parameters come from the train part
    assert not np.allclose(bl.holt_winters(changed_train, 400, ends, 6, 12), before)


def test_the_series_is_rebuilt_from_examples_with_the_gap_missing():
    from edgeflow.components.sequence.data import Series, forecast_examples

    values = np.arange(200.0, dtype=np.float32)[:, None]
    ex = list(forecast_examples(Series(np.arange(200), values, ("v",), 0), 10, 3, 0.25))
    x = np.stack([f["window"] for _, f in ex]).reshape(-1, 10, 1)
    series = bl.series_from_examples(x, np.stack([f["target"] for _, f in ex]),
                                     np.array([f["target_step"] for _, f in ex]), 0)
    cut = 150  # 200 * (1 - 0.25): train rows 0..149, a gap of one window, eval rows 160..199
    np.testing.assert_array_equal(series[:cut], np.arange(cut))
    assert np.isnan(series[cut:cut + 10]).all()
    np.testing.assert_array_equal(series[cut + 10:], np.arange(cut + 10, 200))
    # Holt-Winters runs through the gap (state carried forward) and still tracks the ramp
    ends = np.array([f["target_step"] for s, f in ex if s == "eval"])
    hw = bl.holt_winters(series, cut, ends, 3, 5)
    np.testing.assert_allclose(hw, ends[:, None] + np.arange(3), atol=0.5)


def test_a_model_that_beats_the_naive_baselines_but_not_holt_winters_is_not_blessed():
    series, window, horizon, season = trended_seasonal(900, slope=0.0, noise=0.5), 24, 6, 12
    ends = np.arange(700, 900 - horizon + 1)
    x = np.stack([series[e - window:e] for e in ends])[:, :, None]
    y = np.stack([series[e:e + horizon] for e in ends])
    names = ("persistence", "seasonal_naive", "seasonal_drift", "holt_winters")
    base = bl.forecast_baselines(names, x, 0, horizon, season, series, 600, ends)
    weak = base["seasonal_naive"] * 0.5 + base["holt_winters"] * 0.5 + 0.3  # between seasonal-naive and HW
    naive_only = {k: base[k] for k in names[:3]}
    assert decide_blessing("forecast", forecast_report(y, weak, x, 0, season, naive_only), 1.0).blessed
    report = forecast_report(y, weak, x, 0, season, base)
    verdict = decide_blessing("forecast", report, 1.0)
    assert not verdict.blessed
    reason = verdict.reason
    assert report["baseline.best_mae"] == report["baseline.holt_winters.mae"]
    assert "holt_winters" in reason and "seasonal_drift" in reason


def test_an_unknown_baseline_is_refused_by_name():
    x, _ = windows_of(np.arange(30.0), window=5, horizon=2)
    with pytest.raises(bl.BaselineError, match="arima"):
        bl.forecast_baselines(("persistence", "arima"), x, 0, 2, 2)


def test_the_baselines_setting_is_checked_at_load_time():
    from edgeflow.config import ConfigError, SequenceConfig

    assert SequenceConfig().baseline_names == ("persistence", "seasonal_naive", "seasonal_drift", "holt_winters")
    assert SequenceConfig(baselines=" holt_winters, persistence,").baseline_names == ("holt_winters", "persistence")
    with pytest.raises(ConfigError, match="baselines must be a comma-separated set of .*'persistence,arima'"):
        SequenceConfig(baselines="persistence,arima")
    with pytest.raises(ConfigError, match="seasonal_drift, which needs window > season"):
        SequenceConfig(window=24, season=24, inputs="values")
    assert SequenceConfig(window=24, season=24, inputs="values", baselines="persistence").season == 24


def reference_holt_winters(series, hw, ends, horizon):
    """The state kept at every row (as the evaluator did before it kept the state at the ends only)."""
    m, ends = hw.season, np.asarray(ends, np.int64)
    y = np.asarray(series, np.float64)[:int(ends.max())].tolist()
    a, b, g = hw.alpha, hw.beta, hw.gamma
    lvl, trd, s = [hw.level] + [0.0] * len(y), [hw.trend] + [0.0] * len(y), list(hw.seasons) + [0.0] * len(y)
    for i, v in enumerate(y, 1):
        base = lvl[i - 1] + trd[i - 1]
        if v != v:
            lvl[i], trd[i], s[i + m - 1] = base, trd[i - 1], s[i - 1]
            continue
        lvl[i] = a * (v - s[i - 1]) + (1 - a) * base
        trd[i] = b * (lvl[i] - lvl[i - 1]) + (1 - b) * trd[i - 1]
        s[i + m - 1] = g * (v - base) + (1 - g) * s[i - 1]
    lvl, trd, s, h = np.array(lvl), np.array(trd), np.array(s), np.arange(horizon)
    return lvl[ends, None] + (h + 1) * trd[ends, None] + s[ends[:, None] + h]


def test_holt_winters_kept_at_the_ends_only_equals_the_state_kept_at_every_row():
    series = trended_seasonal(700, walk=0.2, seed=3)
    series[420:450] = np.nan  # the train/eval gap
    params = bl.fit_holt_winters(series[:400], 12)
    ends = np.array([650, 0, 451, 451, 12, 699, 430])  # any order, repeats, the first row, inside the gap
    np.testing.assert_array_equal(bl.holt_winters_forecasts(series, params, ends, 6),
                                  reference_holt_winters(series, params, ends, 6))
