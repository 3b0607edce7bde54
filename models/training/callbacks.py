"""Training callbacks, built from the config in one place (:func:`build_callbacks`)."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import Optional, Sequence

import tensorflow as tf

from edgeflow.config import TrainConfig
from edgeflow.models.training.ema import WeightEMA

keras = tf.keras
log = logging.getLogger("edgeflow.train")


class EpochProgress(keras.callbacks.Callback):
    """One console line per epoch, and the history as JSON (read later by the MLflow logger).

    A resumed training keeps the rows of the epochs it does not repeat."""

    def __init__(self, epochs: int, history_path: str, first_epoch: int = 0):
        super().__init__()
        if epochs < 1:
            raise ValueError("epochs must be at least 1")
        self.epochs, self.history_path, self.first_epoch = epochs, history_path, first_epoch

    def on_train_begin(self, logs=None):
        self.history, self._t0, self._first = [], time.time(), True
        if tf.io.gfile.exists(self.history_path):
            with tf.io.gfile.GFile(self.history_path) as f:
                self.history = json.load(f)

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()
        if self._first:  # epoch > 0 here means BackupAndRestore resumed the training
            self._first = False
            self.history = [row for row in self.history if row["epoch"] <= epoch]
            if epoch > self.first_epoch:  # first_epoch: where a second training stage starts
                log.info("  resuming at epoch %d/%d from the last backup", epoch + 1, self.epochs)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "seconds": round(time.time() - self._t0, 2)}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.history.append(row)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds", "lr"))
        log.info("  epoch %d/%d  %s  (%.1fs)", epoch + 1, self.epochs, shown, row["seconds"])
        with tf.io.gfile.GFile(self.history_path, "w") as f:
            json.dump(self.history, f, indent=1)


def cosine_schedule(base_lr: float, epochs: int, warmup_epochs: int = 0):
    """Epoch -> learning rate: a linear warm-up over `warmup_epochs` (base_lr / warmup_epochs, ... base_lr),
    then from `base_lr` down to 0 along half a cosine over the remaining epochs."""
    def lr_at(epoch, lr=None):
        if epoch < warmup_epochs:
            return base_lr * (epoch + 1) / warmup_epochs
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / max(epochs - warmup_epochs, 1)))
    return lr_at


def learning_rate_callbacks(cfg: TrainConfig) -> list:
    if cfg.lr_schedule == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(  # min_delta 0: a forecaster's loss is ~1e-4, Keras' default
            monitor="val_loss", factor=0.5, patience=max(1, cfg.early_stopping_patience // 2), min_lr=1e-5,
            min_delta=0.0)]
    if cfg.lr_schedule == "cosine":
        return [keras.callbacks.LearningRateScheduler(cosine_schedule(cfg.learning_rate, cfg.epochs, cfg.warmup_epochs))]
    return []


def build_callbacks(cfg: TrainConfig, run_dir: str, backup_dir: Optional[str] = None,
                    diagnostics: Sequence[keras.callbacks.Callback] = (), first_epoch: int = 0,
                    ema: bool = False) -> list:
    """Every callback of a training, in order:

    BackupAndRestore (when ``cfg.resume`` and `backup_dir`: a killed training resumes from its last
    finished epoch), the weight average (when `ema`, ``cfg.ema`` for the skeleton: every callback
    after it sees the averaged weights at an epoch's end), EarlyStopping (from epoch ``cfg.min_epochs`` on, restoring the best weights), a best-weights checkpoint, the
    learning-rate schedule, TensorBoard logs, the `diagnostics` (see models/training/diagnostics.py), progress.
    `first_epoch`: the epoch a second training stage starts at (its rows follow the first stage's in history.json).
    """
    callbacks = []
    if cfg.resume and backup_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir))
    if ema:
        callbacks.append(WeightEMA(cfg.ema_decay, cfg.ema_tau))
    callbacks += [
        # start_from_epoch: epochs before train.min_epochs are not watched at all, so the earliest
        # stop is after min_epochs + patience + 1 epochs (and never past train.epochs).
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping_patience,
                                      restore_best_weights=True, start_from_epoch=cfg.min_epochs),
        keras.callbacks.ModelCheckpoint(os.path.join(run_dir, "checkpoints", "best.weights.h5"),
                                        monitor="val_loss", save_best_only=True, save_weights_only=True),
        *learning_rate_callbacks(cfg),
    ]
    if cfg.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"), profile_batch=0))
    return callbacks + list(diagnostics) + [EpochProgress(cfg.epochs, os.path.join(run_dir, "history.json"), first_epoch)]
