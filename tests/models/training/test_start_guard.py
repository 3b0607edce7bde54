"""The start guard: a network whose start is already the best forecast keeps it; one that training improves does not."""
import edgeflow  # noqa: F401

import numpy as np
import tensorflow as tf

from edgeflow.models.training.start_guard import StartGuard


def _model():
    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1, kernel_initializer="zeros")(inputs))
    model.compile(tf.keras.optimizers.Adam(0.05), "mse")
    return model


def _data(rng, signal: float):
    x = rng.normal(size=(64, 4)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((x, signal * x[:, :1] + rng.normal(size=(64, 1)))).batch(16)


def test_the_start_is_kept_when_training_only_fits_noise():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model, fit, held = _model(), _data(rng, 0.0), _data(rng, 0.0)  # pure noise: zero is the best forecast
    guard = StartGuard(model, held)
    model.fit(fit, epochs=30, verbose=0)
    assert guard.loss() > guard.start_loss  # training moved away from the best forecast
    assert guard.settle()
    np.testing.assert_array_equal(model.get_weights()[0], np.zeros((4, 1)))
    assert guard.loss() == guard.start_loss


def test_trained_weights_stay_when_they_beat_the_start():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    model, fit, held = _model(), _data(rng, 3.0), _data(rng, 3.0)
    guard = StartGuard(model, held)
    model.fit(fit, epochs=30, verbose=0)
    assert not guard.settle()
    assert abs(model.get_weights()[0][0, 0] - 3.0) < 0.5
