"""Keeps a network's untrained weights when training does not clearly beat them on the validation hold-out.

Most networks start random, and any training beats their start. A hybrid forecaster does not: it
starts at a complete forecast (the sequence task's Holt-Winters anchor plus its ridge heads, with
the RNN's correction at zero), and on a series where that is already as good as it gets, training
the RNN only fits noise. :class:`StartGuard` records the start's weights and its loss on every
validation example before training; :meth:`StartGuard.settle` keeps the trained weights only if their
mean loss is lower by more than ``MARGIN`` standard errors of the paired per-example differences, and
puts the start back otherwise. (Measured in BENCHMARKS.md, "the range switch and the start guard": a
trained LSTM 0.3 % better on validation was 5 % worse on eval.) Early stopping alone cannot do this:
it restores the best *epoch*, and the start is not one.
A task asks for it with :meth:`TrainingTask.keeps_start_weights` (models/training/skeleton.py).
"""
from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

log = logging.getLogger("edgeflow.train")

MARGIN = 2.0  # standard errors of the mean paired difference the trained network must win by


class StartGuard:
    """Args: model, compiled (with a Keras loss) and about to train; validation: the batched hold-out of ``(x, y)``."""

    def __init__(self, model: tf.keras.Model, validation):
        self.model, self.validation = model, validation
        self.weights = model.get_weights()
        self.start_losses = self.losses()

    def losses(self) -> np.ndarray:
        """(N,): the model's loss on each validation example (the compiled loss, unreduced)."""
        fn = tf.keras.losses.get(self.model.loss)
        per_example = getattr(fn, "call", fn)  # a Loss object's unreduced form, or a loss function
        out = []
        for x, y in self.validation:
            loss = per_example(tf.convert_to_tensor(y), self.model(x, training=False))
            out.append(tf.reshape(loss, [tf.shape(loss)[0], -1]).numpy().mean(axis=1))
        return np.concatenate(out) if out else np.zeros(0)

    def settle(self) -> bool:
        """After training: True (and the start's weights back in the model) if training did not lower the mean
        validation loss by more than MARGIN standard errors of the paired differences, else False."""
        trained = self.losses()
        gain = self.start_losses - trained  # (N,) > 0 where the trained network is better
        se = gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else 0.0
        start, now = float(self.start_losses.mean()), float(trained.mean())
        if gain.mean() > MARGIN * se:
            log.info("  trained network beats its start on validation: loss %.5f < %.5f (by %.1f standard errors)",
                     now, start, gain.mean() / max(se, 1e-30))
            return False
        self.model.set_weights(self.weights)
        log.info("  training did not clearly beat the untrained start on validation (loss %.5f vs %.5f, within %g "
                 "standard errors): the start's weights are kept", now, start, MARGIN)
        return True
