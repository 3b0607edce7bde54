"""An exponential moving average of the weights (YOLOv5's ModelEMA) as a Keras callback.

Training steps move the model's own weights; after each step a shadow copy follows them,
``shadow = d * shadow + (1 - d) * weights`` with ``d = decay * (1 - exp(-updates / tau))``: the
ramp lets the average track the fast early steps and settle to a window of about
``1 / (1 - decay)`` steps. The average, not the last step, is what validation scores, what the
callbacks after this one (early stopping, checkpoints, diagnostics, progress) see at each epoch's
end, and what the model holds when ``fit`` returns (so the saved and exported model carries it).
"""
from __future__ import annotations

import logging
import math
from typing import Tuple

import tensorflow as tf

keras = tf.keras
log = logging.getLogger("edgeflow.train")

YOLOV5_DECAY, YOLOV5_TAU = 0.9999, 2000.0  # tuned for ~10^5 steps and more


def fit_to_run(decay: float, tau: float, planned_steps: int) -> Tuple[float, float]:
    """(decay, tau) for a run of `planned_steps` (epochs x steps per epoch): YOLOv5's values are for
    hundreds of thousands of steps; a shorter run caps the averaging window ``1 / (1 - decay)`` at a
    tenth of its steps and the ramp `tau` at a twentieth (at least one step each)."""
    window = min(1.0 / (1.0 - decay), max(planned_steps / 10.0, 1.0))
    return 1.0 - 1.0 / window, min(tau, max(planned_steps / 20.0, 1.0))


class WeightEMA(keras.callbacks.Callback):
    """Keeps the average of every floating-point weight of the model (kernels, biases and batch-norm
    moving statistics) and swaps it in for validation, at each epoch's end and at the end of training.

    Put it before the callbacks that should see the average (early stopping, checkpoints) and after
    BackupAndRestore, whose backups then hold the training's own weights; a resumed training
    restarts the average from the restored weights. A schedule that watches ``val_loss``
    (ReduceLROnPlateau) watches the average's, which lags the model in the first epochs and can cut the
    learning rate earlier than without it (BENCHMARKS.md). `scale_to_run`: cap `decay` and `tau` to the
    run's planned steps (:func:`fit_to_run`); False takes them as given.
    """

    def __init__(self, decay: float = YOLOV5_DECAY, tau: float = YOLOV5_TAU, scale_to_run: bool = True):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if tau <= 0:
            raise ValueError(f"tau must be above 0, got {tau}")
        self.decay, self.tau, self.scale_to_run = decay, tau, scale_to_run

    def on_train_begin(self, logs=None):
        self.decay_max, self.tau_steps = self.decay, self.tau
        steps, epochs = (self.params or {}).get("steps"), (self.params or {}).get("epochs")
        if self.scale_to_run and steps and epochs:
            self.decay_max, self.tau_steps = fit_to_run(self.decay, self.tau, steps * epochs)
        self.updates, self._holding = 0, False
        self._weights = [w for w in self.model.weights if w.dtype.is_floating]
        self._shadow = [tf.Variable(w.read_value(), trainable=False) for w in self._weights]
        self._backup = [tf.Variable(w.read_value(), trainable=False) for w in self._weights]
        self._update = tf.function(self._average)  # traced per training: it holds this training's variables
        log.info("  weight averaging (EMA): decay %.4g, ramp tau %.3g steps", self.decay_max, self.tau_steps)

    def current_decay(self) -> float:
        return self.decay_max * (1.0 - math.exp(-self.updates / self.tau_steps))

    def _average(self, d):
        for s, w in zip(self._shadow, self._weights):
            s.assign(d * s + (1.0 - d) * tf.cast(w, s.dtype))

    def on_train_batch_end(self, batch, logs=None):
        self.updates += 1
        self._update(tf.constant(self.current_decay(), tf.float32))

    def _swap_in(self, keep_training_weights: bool = True):
        if self._holding:
            return
        for w, s, b in zip(self._weights, self._shadow, self._backup):
            if keep_training_weights:
                b.assign(w)
            w.assign(s)
        self._holding = True

    def _swap_out(self):
        if self._holding:
            for w, b in zip(self._weights, self._backup):
                w.assign(b)
            self._holding = False

    # Validation inside fit runs between the last step and on_epoch_end: the average is scored there, the
    # training's own weights come back for the callbacks before this one (BackupAndRestore), then the
    # average is in again for those after it, until the next epoch's steps.
    def on_test_begin(self, logs=None):
        if getattr(self, "_shadow", None) is not None:
            self._swap_in()

    def on_test_end(self, logs=None):
        if getattr(self, "_shadow", None) is not None:
            self._swap_out()

    def on_epoch_end(self, epoch, logs=None):
        self._swap_in()

    def on_epoch_begin(self, epoch, logs=None):
        self._swap_out()

    def on_train_end(self, logs=None):
        # Held since the last epoch's end unless training stopped mid-epoch. What a later callback put in
        # its place (EarlyStopping's best epoch, itself an average) stays: it runs after this one.
        self._swap_in(keep_training_weights=False)
        self._shadow = self._backup = None
