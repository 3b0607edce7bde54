"""The in-graph Holt-Winters anchor: statsmodels' recursions, the phase found per window, serialization."""
import edgeflow  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.config import SequenceConfig
from edgeflow.models.sequence.model import build_rnn
from edgeflow.models.sequence.smoothing import (HoltWintersAnchor, Smoothing, choose_init, contiguous_series,
                                                fit_smoothing, run_recursions, window_forecast)

M = 6


def series(n: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n)
    return 0.02 * t + np.sin(2 * np.pi * t / M) + np.random.default_rng(seed).normal(0, 0.1, n)


def test_recursions_reproduce_statsmodels_forecast():
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = series(120)
    fit = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=M,
                               initialization_method="estimated").fit()
    p = fit.params
    level, trend, s = run_recursions(y, p["smoothing_level"], p["smoothing_trend"], p["smoothing_seasonal"],
                                     p["initial_level"], p["initial_trend"], p["initial_seasons"])
    np.testing.assert_allclose(level + np.arange(1, 4) * trend + s[:3], fit.forecast(3), atol=1e-8)


def test_layer_matches_the_numpy_reference_on_windows_of_every_phase():
    sm = fit_smoothing(series(200), M)
    y = series(300, seed=1)
    windows = np.stack([y[i:i + 18] for i in range(0, 30, 5)])  # (6, 18): every phase of the season
    for init in ("profile", "window"):
        sm_i = Smoothing(**{**sm.to_dict(), "init": init})
        got, errors = HoltWintersAnchor(3, sm_i.to_dict())(windows[:, :, None].astype(np.float32))
        want = np.stack([window_forecast(w, sm_i, 3) for w in windows])
        np.testing.assert_allclose(got.numpy(), want, atol=1e-4)
        assert errors.shape == (6, 18, 1)


def test_aligned_profile_forecasts_a_trend_plus_season_exactly_from_any_phase():
    profile = np.array([2.0, 1.0, 0.0, -1.0, -2.0, 0.0])
    sm = Smoothing(alpha=0.3, beta=0.1, gamma=0.2, trend=0.5, profile=tuple(profile))
    t = np.arange(40)
    y = 10 + 0.5 * t + profile[t % M]
    for start in range(M):
        window, future = y[start:start + 12], y[start + 12:start + 15]
        got = HoltWintersAnchor(3, sm.to_dict())(window[None, :, None].astype(np.float32))[0].numpy()
        np.testing.assert_allclose(got[0], future, atol=1e-4)


def test_choose_init_prefers_the_window_season_when_the_train_profile_is_wrong():
    sm = Smoothing(alpha=0.1, beta=0.0, gamma=0.9, trend=0.0, profile=(0.0,) * M)  # a profile that knows nothing
    y = 3 * np.sin(2 * np.pi * np.arange(200) / M)
    x = np.stack([y[i:i + 12] for i in range(150)])[:, :, None]
    targets = np.stack([y[i + 12:i + 15] for i in range(150)])
    assert choose_init(sm, x, targets).init == "window"


def test_contiguous_series_rebuilds_and_fills_rows_no_example_holds():
    y = np.arange(20.0)
    rows = np.array([4, 5, 12])  # window 4, horizon 2: rows 10 and 11 are in no example
    x = np.stack([y[r - 4:r] for r in rows])[:, :, None]
    t = np.stack([y[r:r + 2] for r in rows])
    np.testing.assert_allclose(contiguous_series(x, t, rows, 0), y[:14])


def test_forecaster_with_the_anchor_survives_a_keras_save_and_load(tmp_path):
    cfg = SequenceConfig(task="forecast", units=3, window=12, horizon=3, season=M)
    model = build_rnn(12, 1, 3, cfg, smoothing=fit_smoothing(series(120), M).to_dict())
    x = series(12)[None, :, None].astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert not [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Lambda)]


def test_the_anchor_needs_the_fitted_smoothing():
    with pytest.raises(ValueError, match="needs the train split's smoothing"):
        build_rnn(12, 1, 3, SequenceConfig(task="forecast", window=12, horizon=3, season=M))


def test_the_int8_split_adds_up_and_its_high_part_is_on_a_255_level_grid():
    from edgeflow.models.sequence.smoothing import int8_split

    a = np.random.default_rng(0).normal(size=(30, 7)) * np.logspace(-4, 1, 7)  # columns of very different sizes
    high, low = int8_split(a)
    step = np.abs(a).max() / 127
    np.testing.assert_allclose(high.astype(np.float64) + low, a, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(high / step, np.round(high / step), atol=1e-3)
    assert np.abs(low).max() <= step / 2 * (1 + 1e-5)


def test_the_split_form_of_the_anchor_computes_the_same_values():
    sm = fit_smoothing(series(200), M)
    windows = np.stack([series(300, seed=2)[i:i + 18] for i in range(0, 60, 7)])[:, :, None].astype(np.float32)
    for init in ("profile", "window"):
        layer = HoltWintersAnchor(3, {**sm.to_dict(), "init": init})
        plain = [t.numpy() for t in layer(windows)]
        layer.split_for_int8 = True
        split = [t.numpy() for t in layer(windows)]
        for a, b in zip(plain, split):
            np.testing.assert_allclose(a, b, atol=1e-5)
