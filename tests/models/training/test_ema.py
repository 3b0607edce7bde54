"""The weight average: equal to a hand-computed EMA of the per-step weights, scored by validation,
left in the model (and in what model.save writes) when training ends."""
import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.config import ConfigError, DiagnosticsConfig, TrainConfig, from_dict
from edgeflow.models.training.callbacks import build_callbacks
from edgeflow.models.training.ema import WeightEMA, fit_to_run
from edgeflow.models.training.skeleton import TrainingTask, train

keras = tf.keras
DECAY, TAU = 0.9, 2.0


class StepWeights(keras.callbacks.Callback):
    """Records the training's own weights after every step, and the weights and val_loss at each epoch's
    start and end (after the average, which comes before it in the list)."""

    def on_train_begin(self, logs=None):
        self.start = self.model.get_weights()
        self.steps, self.epoch_begin, self.epoch_end, self.val_loss = [], [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.model.get_weights())

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_begin.append(self.model.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end.append(self.model.get_weights())
        self.val_loss.append(logs["val_loss"])


def _model():
    tf.keras.utils.set_random_seed(0)  # BN's moving statistics are weights too: the average must carry them
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization(momentum=0.5),
                              keras.layers.ReLU(), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 4)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32))[:, None]


def _hand_ema(start, steps):
    shadow = [w.astype(np.float64) for w in start]
    for t, weights in enumerate(steps, 1):
        d = DECAY * (1 - math.exp(-t / TAU))
        shadow = [d * s + (1 - d) * w for s, w in zip(shadow, weights)]
    return shadow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    x, y = _data()
    model, seen = _model(), StepWeights()
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, validation_data=(x[:8], y[:8]), verbose=0,
              callbacks=[WeightEMA(DECAY, TAU, scale_to_run=False), seen])
    path = str(tmp_path_factory.mktemp("ema") / "model.keras")
    model.save(path)
    return model, seen, path


def test_trained_weights_are_the_hand_computed_average_of_the_step_weights(trained):
    model, seen, _ = trained
    assert len(seen.steps) == 9  # 3 epochs x 3 steps
    expected = _hand_ema(seen.start, seen.steps)
    assert len(expected) == 8  # kernel, bias; gamma, beta, moving mean, moving variance; kernel, bias
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.get_weights()[0], seen.steps[-1][0])  # the average, not the last step


def test_validation_scores_the_average_and_training_continues_from_its_own_weights(trained):
    model, seen, _ = trained
    x, y = _data()
    for epoch in range(3):
        average = _hand_ema(seen.start, seen.steps[:3 * (epoch + 1)])
        for got, want in zip(seen.epoch_end[epoch], average):  # what callbacks after the average see
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        model.set_weights(seen.epoch_end[epoch])
        assert model.evaluate(x[:8], y[:8], verbose=0) == pytest.approx(seen.val_loss[epoch], rel=1e-5)
    for epoch in (1, 2):  # each epoch's steps start from the last step's weights, not from the average
        for got, want in zip(seen.epoch_begin[epoch], seen.steps[3 * epoch - 1]):
            np.testing.assert_array_equal(got, want)
    model.set_weights(seen.epoch_end[-1])


def test_model_save_writes_the_average(trained):
    model, seen, path = trained
    loaded = keras.models.load_model(path)
    for got, want in zip(loaded.get_weights(), _hand_ema(seen.start, seen.steps)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_build_callbacks_puts_the_average_after_backups_and_before_early_stopping(tmp_path):
    cfg = TrainConfig(epochs=3, tensorboard=False)
    kinds = [type(c).__name__ for c in build_callbacks(cfg, str(tmp_path), str(tmp_path / "b"), ema=True)]
    assert kinds[:3] == ["BackupAndRestore", "WeightEMA", "EarlyStopping"]
    assert "WeightEMA" not in [type(c).__name__ for c in build_callbacks(cfg, str(tmp_path), ema=False)]


def test_early_stopping_restores_an_averaged_epoch(tmp_path):
    x, y = _data()
    cfg = TrainConfig(epochs=4, min_epochs=0, early_stopping_patience=10, lr_schedule="constant", tensorboard=False,
                      resume=False)
    model, seen = _model(), StepWeights()
    model.fit(x, y, batch_size=8, epochs=4, shuffle=False, validation_data=(x[:8], y[:8]), verbose=0,
              callbacks=build_callbacks(cfg, str(tmp_path), ema=True) + [seen])
    best = int(np.argmin(seen.val_loss))
    for got, want in zip(model.get_weights(), seen.epoch_end[best]):
        np.testing.assert_array_equal(got, want)


def test_a_short_run_caps_yolov5s_window_and_ramp():
    assert fit_to_run(0.9999, 2000, 10 ** 6) == pytest.approx((0.9999, 2000))  # long runs: YOLOv5's own
    decay, tau = fit_to_run(0.9999, 2000, 540)
    assert 1 / (1 - decay) == pytest.approx(54) and tau == pytest.approx(27)


@pytest.mark.parametrize("field, value, words", [("ema_decay", 1.0, "train.ema_decay must be in [0, 1)"),
                                                 ("ema_tau", 0.0, "train.ema_tau must be above 0"),
                                                 ("ema", "yes", "train.ema must be true or false")])
def test_bad_ema_settings_name_the_field(field, value, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        from_dict(TrainConfig, {field: value}, "train.")


class TinyTask(TrainingTask):
    """A two-layer regression as a task, its export skipped."""

    def datasets(self, train):
        x, y = _data()
        return (tf.data.Dataset.from_tensor_slices((x[8:], y[8:])).batch(8),
                tf.data.Dataset.from_tensor_slices((x[:8], y[:8])).batch(8))

    def build_model(self):
        return _model()

    def compile(self, model, optimizer):
        model.compile(optimizer, "mse")

    def export(self, model, fn_args):
        pass


@pytest.mark.parametrize("setting", [True, False])
def test_the_skeleton_averages_when_train_ema_is_set(setting, tmp_path, caplog):
    cfg = TrainConfig(epochs=2, batch_size=8, lr_schedule="constant", tensorboard=False, distribute="none", ema=setting)
    args = SimpleNamespace(model_run_dir=str(tmp_path / "run"), serving_model_dir=str(tmp_path / "serving"),
                           base_model=None)
    with caplog.at_level(logging.INFO, logger="edgeflow.train"):
        train(TinyTask(), args, cfg, DiagnosticsConfig(enabled=False))
    assert ("weight averaging (EMA)" in caplog.text) == setting
    assert not TrainConfig().ema  # off unless asked for
