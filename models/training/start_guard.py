"""Keeps a network's untrained weights when training does not beat them on the validation hold-out.

Most networks start random, and any training beats their start. A hybrid forecaster does not: it
starts at a complete forecast (the sequence task's Holt-Winters anchor plus its ridge heads, with
the RNN's correction at zero), and on a series where that is already as good as it gets, training
the RNN only fits noise. :class:`StartGuard` records the start's weights and validation loss before
training; :meth:`StartGuard.settle` puts them back if the trained network's validation loss is not
lower. Early stopping alone cannot do this: it restores the best *epoch*, and the start is not one.
A task asks for it with :meth:`TrainingTask.keeps_start_weights` (models/training/skeleton.py).
"""
from __future__ import annotations

import logging

import tensorflow as tf

log = logging.getLogger("edgeflow.train")


class StartGuard:
    """Args: model, compiled and about to train; validation: the batched hold-out early stopping watches."""

    def __init__(self, model: tf.keras.Model, validation):
        self.model, self.validation = model, validation
        self.weights = model.get_weights()
        self.start_loss = self.loss()

    def loss(self) -> float:
        return float(self.model.evaluate(self.validation, verbose=0, return_dict=True)["loss"])

    def settle(self) -> bool:
        """After training: True (and the start's weights back in the model) if training did not lower the
        validation loss, else False."""
        trained = self.loss()
        if trained < self.start_loss:
            log.info("  trained network beats its start on validation: loss %.5f < %.5f", trained, self.start_loss)
            return False
        self.model.set_weights(self.weights)
        log.info("  training did not beat the untrained start on validation (loss %.5f >= %.5f): the start's "
                 "weights are kept", trained, self.start_loss)
        return True
