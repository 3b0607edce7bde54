"""The ridge head: its features by hand, its closed-form fit, and the hybrid starting at anchor + head."""
import edgeflow  # noqa: F401

import numpy as np
import tensorflow as tf

from edgeflow.config import SequenceConfig
from edgeflow.models.sequence.model import build_rnn
from edgeflow.models.sequence.residual import ResidualFeatures, clip_bounds, fit_ridge
from edgeflow.models.sequence.smoothing import HoltWintersAnchor

SMOOTHING = {"alpha": 0.5, "beta": 0.1, "gamma": 0.3, "trend": 0.0, "profile": [1.0, 0.0, -1.0]}


def test_features_are_recent_errors_and_values_minus_the_last():
    window = np.arange(6.0, dtype=np.float32).reshape(1, 6, 1)  # 0..5, season 3: no week in the window
    errors = np.array([[10, 11, 12, 13, 14, 15]], np.float32)[:, :, None]
    f = ResidualFeatures(3)([window, errors]).numpy()
    np.testing.assert_allclose(f, [[13, 14, 15, -5, -4, -3, -2, -1, 0]])


def test_a_window_of_a_week_and_a_day_adds_the_week_before():
    window = np.arange(16.0, dtype=np.float32).reshape(1, 16, 1)  # season 2: 8 seasons
    errors = np.zeros((1, 16, 1), np.float32)
    f = ResidualFeatures(2)([window, errors]).numpy()
    # last 2 errors, the 2 errors a week (14 rows) before them, those rows' values minus the last 2, 16 relative values
    assert f.shape == (1, 2 + 2 + 2 + 16)
    np.testing.assert_allclose(f[0, 4:6], [0 - 14, 1 - 15])


def test_features_are_clipped_to_the_train_range():
    train = np.random.default_rng(0).normal(size=(500, 4))
    low, high = clip_bounds(train)
    layer = ResidualFeatures(3, low=low, high=high)
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


def test_the_hybrid_starts_at_anchor_plus_ridge():
    cfg = SequenceConfig(task="forecast", units=3, window=6, horizon=2, season=3)
    x = np.random.default_rng(2).normal(size=(4, 6, 1)).astype(np.float32)
    kernel = np.full((9, 2), 0.1, np.float32)
    model = build_rnn(6, 1, 2, cfg, smoothing=SMOOTHING,
                      ridge={"low": [-9.0] * 9, "high": [9.0] * 9, "kernel": kernel, "bias": [1.0, -1.0]})
    hw, errors = HoltWintersAnchor(2, SMOOTHING)(x)
    feats = np.clip(ResidualFeatures(3)([x, errors]).numpy(), -9, 9)
    np.testing.assert_allclose(model.predict(x, verbose=0), hw.numpy() + feats @ kernel + [1.0, -1.0], atol=1e-5)
    assert not model.get_layer("ridge_correction").trainable
    restored = tf.keras.models.model_from_json(model.to_json())  # registered, serializable layers
    assert restored.get_layer("residual_features").get_config()["high"] == [9.0] * 9
