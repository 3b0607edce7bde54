"""The bare Keras model every Trainer saves for EdgeExport, beside the serving SavedModel.

``<model run>/keras/model.keras`` holds the network alone (no Transform layer, no serving
signatures): what TFMOT and the TFLite converter take. EdgeExport reads it from there.
"""
from __future__ import annotations

import os

KERAS_DIR = "keras"  # under the Trainer's ModelRun artifact
KERAS_MODEL = os.path.join(KERAS_DIR, "model.keras")


def save_bare_model(model, model_run_dir: str) -> str:
    """Saves `model` as ``<model_run_dir>/keras/model.keras``; returns that folder."""
    import tensorflow as tf

    folder = os.path.join(model_run_dir, KERAS_DIR)
    tf.io.gfile.makedirs(folder)
    model.save(os.path.join(model_run_dir, KERAS_MODEL))
    return folder
