"""The ridge heads: their features by hand, the closed-form fit, the range switch, and the hybrid starting at
anchor + head."""
import edgeflow  # noqa: F401

import numpy as np
import tensorflow as tf

from edgeflow.config import SequenceConfig
from edgeflow.models.sequence.model import build_rnn
from edgeflow.models.sequence.residual import RangeSwitch, ResidualFeatures, clip_bounds, fit_ridge, season_profile
from edgeflow.models.sequence.smoothing import HoltWintersAnchor

SMOOTHING = {"alpha": 0.5, "beta": 0.1, "gamma": 0.3, "trend": 0.0, "profile": [1.0, 0.0, -1.0]}


def test_the_long_reach_is_every_value_minus_the_last():
    window = np.arange(16.0, dtype=np.float32).reshape(1, 16, 1)  # season 2: 8 seasons
    errors = np.full((1, 16, 1), 7.0, np.float32)  # the long reach reads no errors
    f = ResidualFeatures(2)([window, errors]).numpy()
    np.testing.assert_allclose(f, window[:, :, 0] - 15.0)


def test_the_short_reach_reads_recent_errors_and_values_minus_the_last():
    window = np.arange(6.0, dtype=np.float32).reshape(1, 6, 1)  # 0..5, season 3: no week in the window
    errors = np.array([[10, 11, 12, 13, 14, 15]], np.float32)[:, :, None]
    f = ResidualFeatures(3, reach="short")([window, errors]).numpy()
    np.testing.assert_allclose(f, [[13, 14, 15, -5, -4, -3, -2, -1, 0]])


def test_the_short_reach_drops_the_level_a_shift_leaves_behind():
    window = np.arange(16.0, dtype=np.float32).reshape(1, 16, 1)  # season 2: 8 seasons
    shifted = window + np.where(np.arange(16) >= 10, 50.0, 0.0).reshape(1, 16, 1)  # a shift 6 rows before the end
    errors = np.zeros((1, 16, 1), np.float32)
    short = ResidualFeatures(2, reach="short")
    f, g = short([window, errors]).numpy(), short([shifted, errors]).numpy()
    # last 2 errors, 2 errors a week before, the week-before changes minus their mean, the last 4 values minus the last
    assert f.shape == (1, 2 + 2 + 2 + 4)
    np.testing.assert_allclose(f[0, 4:6], [0.0, 0.0])  # a straight line: no weekly shape
    np.testing.assert_allclose(f[0, 6:], [-3, -2, -1, 0])
    np.testing.assert_allclose(g, f)  # the shift is outside both the week's shape and the last two seasons
    long = ResidualFeatures(2)
    assert np.abs(long([shifted, errors]).numpy() - long([window, errors]).numpy()).max() == 50.0


def test_the_range_switch_takes_the_short_head_outside_the_train_profile():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(200, 12, 1)).astype(np.float32)  # season 3: 4 seasons, a 3-value profile
    profile = season_profile(train, 3).numpy()
    np.testing.assert_allclose(profile[0], train[0, :, 0].reshape(4, 3).mean(1)[:3] - train[0, 9:, 0].mean(), atol=1e-6)
    switch = RangeSwitch(3, profile.min(0), profile.max(0))
    shifted = train[:5].copy()
    shifted[:, 6:] += 20.0  # the last two seasons far above the first two
    long, short = np.zeros((5, 2), np.float32), np.ones((5, 2), np.float32)
    np.testing.assert_allclose(switch([train[:5], long, short]).numpy(), long)  # inside: the long head
    np.testing.assert_allclose(switch([shifted, long, short]).numpy(), short)  # outside: the short head


def test_features_are_clipped_to_the_train_range():
    train = np.random.default_rng(0).normal(size=(500, 4))
    low, high = clip_bounds(train)
    layer = ResidualFeatures(3, low=low, high=high, reach="short")
    shifted = layer.clip(train + 100.0)  # a level no train window had
    np.testing.assert_allclose(shifted, np.broadcast_to(high, shifted.shape))


def test_ridge_recovers_a_linear_residual_and_picks_a_small_penalty():
    rng = np.random.default_rng(1)
    f, vf = rng.normal(size=(2000, 5)), rng.normal(size=(500, 5))
    true = rng.normal(size=(5, 2))
    head = fit_ridge(f, f @ true + 0.5, vf, vf @ true + 0.5)
    np.testing.assert_allclose(head["kernel"], true, atol=0.02)
    np.testing.assert_allclose(head["bias"], [0.5, 0.5], atol=0.02)
    assert head["val_mae_head"] < 0.05 * head["val_mae_anchor"]


def test_the_hybrid_starts_at_the_switched_heads_each_from_its_own_base():
    cfg = SequenceConfig(task="forecast", units=3, window=6, horizon=2, season=3)
    x = np.random.default_rng(2).normal(size=(4, 6, 1)).astype(np.float32)
    x[2:, 3:] += 30.0  # two windows whose second season leaves the profile range below: the short head
    long_k, short_k = np.full((6, 2), 0.1, np.float32), np.full((9, 2), -0.2, np.float32)
    ridge = {"long": {"low": None, "high": None, "kernel": long_k, "bias": [1.0, -1.0]},
             "short": {"low": [-99.0] * 9, "high": [99.0] * 9, "kernel": short_k, "bias": [0.5, 0.5]},
             "switch": {"low": [-5.0], "high": [5.0]}}
    model = build_rnn(6, 1, 2, cfg, smoothing=SMOOTHING, ridge=ridge)
    hw, errors = HoltWintersAnchor(2, SMOOTHING)(x)
    last = x[:, -1:, 0]
    long = last + (x[:, :, 0] - last) @ long_k + [1.0, -1.0]  # from the last value
    short = hw.numpy() + ResidualFeatures(3, reach="short")([x, errors]).numpy() @ short_k + [0.5, 0.5]  # from the anchor
    np.testing.assert_allclose(model.predict(x, verbose=0), np.concatenate([long[:2], short[2:]]), atol=1e-4)
    assert not model.get_layer("long_ridge_correction").trainable
    restored = tf.keras.models.model_from_json(model.to_json())  # registered, serializable layers
    assert restored.get_layer("short_residual_features").get_config()["reach"] == "short"
    assert restored.get_layer("long_residual_features").get_config()["low"] is None
    assert restored.get_layer("range_switch").get_config()["high"] == [5.0]
