"""EdgeExport's inputs, per pipeline: fine-tuning/calibration data, eval data and the task.

Each loader returns an :class:`EdgeData`:

* ``x_train``, ``y_train``: what the bare Keras model is trained on (QAT, pruning and clustering
  fine-tune on them; int8 calibration uses ``x_train``, mapped back to raw values when the
  model is wrapped);
* ``x_eval``, ``y_eval``: inputs as the .tflite takes them, and the truth the task's metric reads;
* ``train_seen``, ``eval_seen``: how many examples each split held; each loader reads a seeded
  uniform sample of at most ``sampling.train`` / ``sampling.eval`` examples (0: all), in bounded memory;
* ``wrap``: for a sequence model, the train-split standardization that is put around the Keras
  model in the graph, so the .tflite takes raw windows and (forecast) returns target units;
* ``loss``: the fine-tuning loss, built in the converter's child process
  (:func:`edgeflow.components.edge_export.variants.fine_tune_loss`).

image: the Transform output (decoded, resized, scaled images); sequence: the ExampleGen's raw
windows plus the Transform graph's statistics; detection: the ExampleGen's images and boxes.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from edgeflow.components.edge_export.tasks import (EdgeTask, classification_task, detection_task, forecast_task,
                                            image_preprocessing)
from edgeflow.components.edge_export.variants import ConversionError
from edgeflow.models.splits import sample_split, split_dir
from edgeflow.models.training.bare_model import KERAS_DIR

DETECTION_META = os.path.join(KERAS_DIR, "detection.json")  # anchors etc., beside the detection Keras model


@dataclass
class EdgeData:
    task: EdgeTask
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: Any
    loss: dict
    wrap: Optional[dict] = None
    input_name: str = "image"
    train_seen: int = 0
    eval_seen: int = 0


@dataclass(frozen=True)
class Sampling:
    """At most `train` / `eval` examples of each split (0: all), drawn with `seed`."""

    train: int = 0
    eval: int = 0
    seed: int = 0

    def limit(self, split: str) -> int:
        return self.train if split == "train" else self.eval


def load_transformed_split(split_path: str, input_shape: Sequence[int], limit: int = 0,
                           seed: int = 0) -> Tuple[np.ndarray, np.ndarray, int]:
    """Transformed image tf.Examples of one split (a sample of at most `limit`, 0: all) -> x (n, H, W, C)
    float32, y (n,) int64, and how many examples the split held."""
    import tensorflow as tf

    from edgeflow.models.features import LABEL_KEY
    from edgeflow.models.features import IMAGE_FEATURE

    rows, seen = sample_split(split_path, {IMAGE_FEATURE: tf.io.FixedLenFeature(list(input_shape), tf.float32),
                                           LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}, limit, seed)
    return rows[IMAGE_FEATURE], rows[LABEL_KEY], seen


def image_data(model, train_dir: str, eval_dir: str, labels: Sequence[str], sampling: Sampling = Sampling()) -> EdgeData:
    shape = tuple(model.input_shape[1:])
    x_train, y_train, train_seen = load_transformed_split(train_dir, shape, sampling.train, sampling.seed)
    x_eval, y_eval, eval_seen = load_transformed_split(eval_dir, shape, sampling.eval, sampling.seed)
    h, w, c = shape
    task = classification_task(labels, image_preprocessing(h, w, c))
    return EdgeData(task, x_train, y_train, x_eval, y_eval, {"kind": "sparse_categorical_crossentropy"},
                    train_seen=train_seen, eval_seen=eval_seen)


# ---- sequence ---------------------------------------------------------------------------

def sequence_columns(csv_path: str, time_column: Optional[str], target: Optional[str], task: str):
    """(feature columns in model order, target column or None) from the CSV header, as the ExampleGen reads them."""
    from edgeflow.components.sequence.data import ID_COLUMN, LABEL_COLUMN, STEP_COLUMN

    with open(csv_path, newline="") as f:
        header = [h.strip() for h in next(csv.reader(f), [])]
    if task == "forecast":
        columns = [h for h in header if h != (time_column or header[0])]
        return columns, target or columns[0]
    return [h for h in header if h not in (ID_COLUMN, STEP_COLUMN, LABEL_COLUMN)], None


def sequence_task_config(cfg, csv_path: str, target_index: int) -> dict:
    """What the sequence loader needs from the PipelineConfig `cfg` (window resolved) and the CSV."""
    seq = cfg.sequence
    features, target = sequence_columns(csv_path, seq.time_column, seq.target, seq.task)
    return {"task": seq.task, "window": seq.steps if seq.task == "forecast" else seq.window,
            "horizon": seq.horizon, "features": features, "target": target, "target_index": target_index}


def transform_statistics(transform_graph_uri: str, window: int, features: int) -> Tuple[np.ndarray, np.ndarray]:
    """The train-split (mean (F,), std (F,)) baked into the Transform graph.

    Transform standardizes each feature as (x - mean) / std; feeding windows of all zeros and
    all ones reads both constants back: z0 = -mean / std, z1 = (1 - mean) / std.
    """
    import tensorflow as tf
    import tensorflow_transform as tft

    from edgeflow.models.features import WINDOW_KEY
    from edgeflow.models.features import WINDOW_FEATURE

    layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()
    probe = tf.constant(np.stack([np.zeros(window * features), np.ones(window * features)]), tf.float32)
    z = layer({WINDOW_KEY: probe})[WINDOW_FEATURE].numpy().reshape(2, window, features)[:, 0]
    std = 1.0 / (z[1] - z[0])
    return (-z[0] * std).astype(np.float32), std.astype(np.float32)


def sequence_data(model, examples_uri: str, transform_graph_uri: str, config: dict, labels: Sequence[str],
                  sampling: Sampling = Sampling()) -> EdgeData:
    """config: ``task``, ``window``, ``horizon``, ``features`` (column names), ``target``, ``target_index``."""
    import tensorflow as tf

    from edgeflow.models.features import LABEL_KEY, TARGET_KEY, WINDOW_KEY

    window, names, forecast = int(config["window"]), list(config["features"]), config["task"] == "forecast"
    n = len(names)
    truth_key, truth_spec = ((TARGET_KEY, tf.io.FixedLenFeature([config["horizon"]], tf.float32)) if forecast
                             else (LABEL_KEY, tf.io.FixedLenFeature([], tf.int64)))
    spec = {WINDOW_KEY: tf.io.FixedLenFeature([window * n], tf.float32), truth_key: truth_spec}

    seen = {}

    def split(name):
        rows, seen[name] = sample_split(split_dir(examples_uri, name), spec, sampling.limit(name), sampling.seed)
        return rows[WINDOW_KEY].reshape(-1, window, n), rows[truth_key]

    (x_train, y_train), (x_eval, y_eval) = split("train"), split("eval")
    mean, std = transform_statistics(transform_graph_uri, window, n)
    wrap = {"mean": mean.tolist(), "std": std.tolist()}
    if forecast:
        t = int(config["target_index"])
        wrap.update(output_scale=float(std[t]), output_offset=float(mean[t]))
        y_train = (y_train - mean[t]) / std[t]  # the bare model learns standardized targets
        task = forecast_task(window, config["horizon"], names, config["target"])
        loss = {"kind": "mse"}
    else:
        task = classification_task(labels, f"{window} rows of the raw feature columns {', '.join(names)} "
                                           "in this order (no scaling: the model standardizes them itself)")
        loss = {"kind": "sparse_categorical_crossentropy"}
    del model  # the shape comes from the config; the signature matches the loaders of other pipelines
    return EdgeData(task, (x_train - mean) / std, y_train, x_eval, y_eval, loss, wrap, input_name="window",
                    train_seen=seen["train"], eval_seen=seen["eval"])


# ---- detection --------------------------------------------------------------------------

def detection_data(model, examples_uri: str, meta_path: str, config: dict, sampling: Sampling = Sampling()) -> EdgeData:
    """config: the pipeline's ``detection`` section (loss weights); anchors etc. from the trainer's `meta_path`."""
    from edgeflow.models.detection.examples import decode_images, sample_detection_examples
    from edgeflow.models.detection.targets import encode_targets

    with open(meta_path) as f:
        meta = json.load(f)
    if len(meta.get("grids", [meta["grid"]])) > 1:
        raise ConversionError(f"EdgeExport does not yet convert feature-pyramid detectors ({len(meta['grids'])} "
                              "scales); train with detection.scales=1 to export, or run with export.enabled=false")
    anchors = np.asarray(meta["anchors"], np.float32).reshape(-1, 2)
    size, channels, names = meta["image_size"], meta["channels"], meta["class_names"]

    seen = {}

    def split(name):
        data, seen[name] = sample_detection_examples(split_dir(examples_uri, name), sampling.limit(name), sampling.seed)
        return data, decode_images(data.encoded, size, channels)

    (train, x_train), (evals, x_eval) = split("train"), split("eval")
    y_train = (np.stack([encode_targets(b, c, anchors, meta["grid"], len(names), config.get("anchor_t", 4.0),
                                        config.get("neighbour_cells", True)) for b, c in zip(train.boxes, train.classes)])
               if len(train) else np.zeros((0, *model.output_shape[1:]), np.float32))
    task = detection_task(names, anchors, meta["grid"], meta["score_threshold"], meta["iou_threshold"],
                          meta["max_detections"], image_preprocessing(size, size, channels))
    loss = {"kind": "yolo", "anchors": anchors.tolist(), "lambda_coord": config.get("lambda_coord", 5.0),
            "lambda_noobj": config.get("lambda_noobj", 0.5), "box_loss": config.get("box_loss", "ciou"),
            "label_smoothing": config.get("label_smoothing", 0.0)}
    return EdgeData(task, x_train, y_train, x_eval, (evals.boxes, evals.classes), loss,
                    train_seen=seen["train"], eval_seen=seen["eval"])


def load_edge_data(pipeline: str, model, model_run_uri: str, examples_uri: str, transform_graph_uri: Optional[str],
                   config: dict, labels: Sequence[str], sampling: Sampling = Sampling()) -> EdgeData:
    """The loader of `pipeline` ("image", "sequence" or "detection"), reading `sampling`'s share of each split."""
    if pipeline == "image":
        return image_data(model, split_dir(examples_uri, "train"), split_dir(examples_uri, "eval"), labels, sampling)
    if pipeline == "sequence":
        if not transform_graph_uri:
            raise ConversionError("the sequence EdgeExport needs the Transform graph (train statistics); "
                                  "wire transform_graph=transform.outputs['transform_graph']")
        return sequence_data(model, examples_uri, transform_graph_uri, config, labels, sampling)
    if pipeline == "detection":
        return detection_data(model, examples_uri, os.path.join(model_run_uri, DETECTION_META), config, sampling)
    raise ConversionError(f"EdgeExport does not know the pipeline {pipeline!r}; use image, sequence or detection")
