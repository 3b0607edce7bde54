"""Training callbacks, built from the config in one place (:func:`build_callbacks`)."""
from __future__ import annotations

import json
import logging
import os
import time

import tensorflow as tf

from edgeflow.pipelines.config import TrainConfig

keras = tf.keras
log = logging.getLogger("edgeflow.train")


class EpochProgress(keras.callbacks.Callback):
    """One console line per epoch, and the history as JSON (read later by the MLflow logger)."""

    def __init__(self, epochs: int, history_path: str):
        super().__init__()
        if epochs < 1:
            raise ValueError("epochs must be at least 1")
        self.epochs, self.history_path = epochs, history_path

    def on_train_begin(self, logs=None):
        self.history, self._t0 = [], time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "seconds": round(time.time() - self._t0, 2)}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.history.append(row)
        shown = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds"))
        log.info("  epoch %d/%d  %s  (%.1fs)", epoch + 1, self.epochs, shown, row["seconds"])
        with tf.io.gfile.GFile(self.history_path, "w") as f:
            json.dump(self.history, f, indent=1)


def build_callbacks(cfg: TrainConfig, run_dir: str) -> list:
    """EarlyStopping (restoring the best weights), a best-weights checkpoint, and progress."""
    return [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping_patience,
                                      restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(os.path.join(run_dir, "checkpoints", "best.weights.h5"),
                                        monitor="val_loss", save_best_only=True, save_weights_only=True),
        EpochProgress(cfg.epochs, os.path.join(run_dir, "history.json")),
    ]
