import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.image.model import build_cnn
from edgeflow.config import ModelConfig


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_one_training_step_changes_weights_and_keeps_shapes(activation):
    model = build_cnn((16, 16, 1), 4, ModelConfig(blocks=2, filters=4, activation=activation))
    assert model.input_shape == (None, 16, 16, 1) and model.output_shape == (None, 4)
    assert model.get_layer("block2_pool").output_shape == (None, 4, 4, 8)  # 2 halvings, filters doubled
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x, y = np.ones((2, 16, 16, 1), np.float32), np.array([0, 3])
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_learns_a_separable_toy_problem():
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1)).astype(np.float32) * 0.1
    y = np.arange(64) % 2
    x[y == 1, :4] += 0.9  # class 1: bright top half
    tf.keras.utils.set_random_seed(0)
    model = build_cnn((8, 8, 1), 2, ModelConfig(blocks=1, filters=4, dropout=0.0))
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=15, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95
