"""Callbacks built from the config; an interrupted training resumes from its last finished epoch."""
import json

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.training.callbacks import build_callbacks, cosine_schedule
from edgeflow.config import TrainConfig

keras = tf.keras


class KilledAfter(keras.callbacks.Callback):
    """Stops the process's training abruptly after epoch `n` (1-based), like a kill would."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise KeyboardInterrupt(f"killed after epoch {self.n}")


class FirstEpoch(keras.callbacks.Callback):
    """Records the epochs run and the weights the first of them starts from."""

    def on_train_begin(self, logs=None):
        self.epochs, self.start_weights = [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
        if self.start_weights is None:
            self.start_weights = [w.copy() for w in self.model.get_weights()]


def _model():
    tf.keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_killed_training_resumes_from_its_last_epoch(tmp_path):
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    cfg = TrainConfig(epochs=6, early_stopping_patience=10, lr_schedule="constant", tensorboard=False)
    backup = str(tmp_path / "backup")

    first = _model()
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y, validation_data=(x, y), epochs=6, verbose=0,
                  callbacks=build_callbacks(cfg, str(tmp_path), backup) + [KilledAfter(3)])
    weights_at_3 = [w.copy() for w in first.get_weights()]

    second, seen = _model(), FirstEpoch()  # a fresh process would build a fresh model
    second.fit(x, y, validation_data=(x, y), epochs=6, verbose=0,
               callbacks=build_callbacks(cfg, str(tmp_path), backup) + [seen])
    assert seen.epochs == [3, 4, 5]  # epochs 4..6, not from scratch
    history = json.loads((tmp_path / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    for resumed, killed in zip(seen.start_weights, weights_at_3):  # epoch 3's weights, not fresh ones
        np.testing.assert_allclose(resumed, killed)
    assert not np.allclose(seen.start_weights[0], _model().get_weights()[0])


def test_lr_schedules():
    f = cosine_schedule(0.01, 10)
    assert f(0) == pytest.approx(0.01) and f(5) == pytest.approx(0.005) and f(10) == pytest.approx(0.0)
    def kinds(s):
        return [type(c).__name__ for c in build_callbacks(TrainConfig(lr_schedule=s), "/tmp/x")]

    assert "ReduceLROnPlateau" in kinds("plateau")
    assert "LearningRateScheduler" in kinds("cosine")
    assert not {"ReduceLROnPlateau", "LearningRateScheduler"} & set(kinds("constant"))
    assert "BackupAndRestore" in [type(c).__name__ for c in build_callbacks(TrainConfig(), "/tmp/x", "/tmp/b")]


def _epochs_run(tmp_path, min_epochs):
    """Epochs a run with a flat val_loss trains (a learning rate of 0: the loss never moves)."""
    tf.keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    cfg = TrainConfig(epochs=30, early_stopping_patience=1, min_epochs=min_epochs, lr_schedule="constant",
                      tensorboard=False)
    history = model.fit(x, y, validation_data=(x, y), epochs=30, verbose=0,
                        callbacks=build_callbacks(cfg, str(tmp_path)))
    return len(history.history["val_loss"])


def test_early_stopping_waits_for_min_epochs(tmp_path):
    assert _epochs_run(tmp_path / "free", 0) < 6  # patience 1 on a flat loss: stops almost at once
    ran = _epochs_run(tmp_path / "held", 6)
    assert 6 <= ran < 30  # at least min_epochs, and early stopping still stops after them


def test_min_epochs_is_checked():
    from edgeflow.config.base import ConfigError

    with pytest.raises(ConfigError, match="min_epochs must be at least 0"):
        TrainConfig(min_epochs=-1)
    assert TrainConfig().min_epochs == 10
