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
    assert guard.losses().mean() > guard.start_losses.mean()  # training moved away from the best forecast
    assert guard.settle()
    np.testing.assert_array_equal(model.get_weights()[0], np.zeros((4, 1)))
    np.testing.assert_allclose(guard.losses(), guard.start_losses)


def test_per_example_losses_are_the_compiled_loss():
    rng = np.random.default_rng(2)
    model, held = _model(), _data(rng, 1.0)
    guard = StartGuard(model, held)
    y = np.concatenate([y for _, y in held])
    np.testing.assert_allclose(guard.start_losses, y[:, 0] ** 2, rtol=1e-5)  # zero forecast: squared targets
    np.testing.assert_allclose(guard.start_losses.mean(), model.evaluate(held, verbose=0), rtol=1e-5)


def test_a_gain_within_the_noise_keeps_the_start():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    model, held = _model(), _data(rng, 0.0)
    guard = StartGuard(model, held)
    w = model.get_weights()
    w[1][:] = 0.01  # a tiny bias: some examples better, some worse, no clear gain
    model.set_weights(w)
    assert guard.settle()
    assert model.get_weights()[1][0] == 0.0


def test_trained_weights_stay_when_they_beat_the_start():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    model, fit, held = _model(), _data(rng, 3.0), _data(rng, 3.0)
    guard = StartGuard(model, held)
    model.fit(fit, epochs=30, verbose=0)
    assert not guard.settle()
    assert abs(model.get_weights()[0][0, 0] - 3.0) < 0.5
