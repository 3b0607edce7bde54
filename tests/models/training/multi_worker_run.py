"""One worker of a multi-worker training, started as its own process by test_multi_worker.py.

``python -m tests.models.training.multi_worker_run OUT NAME DISTRIBUTE``: trains the tiny image task of
test_skeleton.py with the skeleton into ``OUT/run`` (``TF_CONFIG`` in the environment names the cluster),
and writes ``OUT/NAME.json``: the epochs this process ran, their losses, and the trained weights' digest.
"""
import json
import sys
from pathlib import Path

import edgeflow  # noqa: F401 - TF_USE_LEGACY_KERAS before TensorFlow
import numpy as np
import tensorflow as tf

from edgeflow.config import DiagnosticsConfig
from edgeflow.models.training.distribute import make_strategy
from edgeflow.models.training.skeleton import train
from edgeflow.config import ModelConfig
from tests.models.training.test_skeleton import _fn_args, _train_cfg, image_task


class Seen(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.epochs, self.losses = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch + 1)
        self.losses.append(float(logs["loss"]))


def main(out: str, name: str, distribute: str) -> None:
    make_strategy(distribute)  # before the task's tensors: collective ops are configured at program startup
    seen = Seen()
    task = image_task()
    task.model_cfg = ModelConfig(blocks=1, filters=4, dropout=0.0)  # no dropout: each worker's draws would differ
    model = train(task, _fn_args(Path(out)), _train_cfg(epochs=3, distribute=distribute),
                  DiagnosticsConfig(enabled=False), callbacks=[seen])
    weights = [w.tolist() for w in model.get_weights()]
    x = np.random.default_rng(1).uniform(size=(4, 8, 8, 1)).astype("float32")
    result = {"epochs": seen.epochs, "losses": seen.losses, "weights": weights,
              "strategy": type(model.distribute_strategy).__name__,
              "probabilities": model.predict(x, verbose=0).tolist()}
    Path(out).mkdir(parents=True, exist_ok=True)
    Path(out, f"{name}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
