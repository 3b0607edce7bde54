"""The TFX Trainer's run_fn for the sequence pipeline: train the RNN, export for serving.

The exported SavedModel carries the Transform graph (train-split standardization) and two
signatures, both taking raw values:

* ``serving_default``: ``window`` (B, W, F) float32 ->
  forecast: ``forecast`` (B, H) in the target column's units;
  classify: ``probabilities`` (B, C), ``class_id`` (B,), ``class_name`` (B,).
* ``serving_examples``: serialized tf.Examples (feature ``window``) -> the same outputs.

custom_config: ``sequence`` and ``train`` (config dicts, window resolved), ``features`` (F),
``target_index`` (forecast) and ``class_names`` (classify).
"""
from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from edgeflow.models.features import LABEL_KEY, TIME_KEY, WINDOW_KEY
from edgeflow.models.training.bare_model import save_bare_model
from edgeflow.models.training.callbacks import build_callbacks
from edgeflow.models.sequence.model import build_rnn, compile_rnn, seasonal_change_scale
from edgeflow.models.training.validation import split_by_time, split_indices
from edgeflow.models.features import TARGET_FEATURE, TARGET_MEAN, TARGET_STD, WINDOW_FEATURE
from edgeflow.config import SequenceConfig, TrainConfig, from_dict

log = logging.getLogger("edgeflow.train")


def load_train_split(files, data_accessor, tft_output, label_key: str, shape, with_time: bool):
    """The train split in memory, in file order: x (N, W, F) normalized windows, y (N, H) normalized
    targets or (N, 1) class ids, and (forecast) the row index of each window's first target step (N,)."""
    batches = data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=1024, label_key=label_key, num_epochs=1, shuffle=False),
        tft_output.transformed_metadata.schema,
    )
    xs, ys, steps = [], [], []
    for features, label in batches:
        xs.append(tf.reshape(features[WINDOW_FEATURE], [-1, *shape]).numpy())
        ys.append(label.numpy())
        if with_time:
            steps.append(tf.reshape(features[TIME_KEY], [-1]).numpy())
    return np.concatenate(xs), np.concatenate(ys), (np.concatenate(steps) if with_time else None)


def export_signatures(model, tft_output, task: str, window: int, features: int, class_names=()):
    """Raw windows in; normalization and (forecast) de-normalization happen inside the graph."""
    model.tft_layer = tft_output.transform_features_layer()
    names = tf.constant(list(class_names) or [""])

    def predict(raw_flat):  # (B, W * F) raw -> outputs
        t = model.tft_layer({WINDOW_KEY: raw_flat})
        out = model(tf.reshape(t[WINDOW_FEATURE], [-1, window, features]), training=False)
        if task == "forecast":  # (B, H) normalized -> target units
            return {"forecast": out * t[TARGET_STD][:, None] + t[TARGET_MEAN][:, None]}
        ids = tf.argmax(out, axis=-1)
        return {"probabilities": out, "class_id": ids, "class_name": tf.gather(names, ids)}

    @tf.function(input_signature=[tf.TensorSpec([None, window, features], tf.float32, name="window")])
    def serve_windows(window_values):
        return predict(tf.reshape(window_values, [-1, window * features]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        spec = {WINDOW_KEY: tf.io.FixedLenFeature([window * features], tf.float32)}
        return predict(tf.io.parse_example(examples, spec)[WINDOW_KEY])

    return {"serving_default": serve_windows, "serving_examples": serve_examples}


def run_fn(fn_args: tfx.components.FnArgs):
    cc = fn_args.custom_config
    seq, train = from_dict(SequenceConfig, cc["sequence"]), from_dict(TrainConfig, cc["train"])
    window, features, class_names = seq.window, cc["features"], cc.get("class_names") or []
    tf.keras.utils.set_random_seed(train.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    forecast = seq.task == "forecast"
    label_key = TARGET_FEATURE if forecast else LABEL_KEY
    x, y, steps = load_train_split(fn_args.train_files, fn_args.data_accessor, tft_output, label_key,
                                   (window, features), with_time=forecast)
    # Early stopping, the checkpoint and the LR schedule watch a hold-out of the train split, never
    # the eval split the Evaluator scores: the latest windows for a series, every k-th sequence else.
    fit, held = (split_by_time(steps, train.validation_fraction, window, seq.horizon) if forecast
                 else split_indices(len(x), train.validation_fraction))
    log.info("  %d train windows: %d fitted, %d held out for validation%s", len(x), len(fit), len(held),
             f", {len(x) - len(fit) - len(held)} in the gap between" if forecast else "")
    fit_ds = tf.data.Dataset.from_tensor_slices((x[fit], y[fit])).shuffle(len(fit), seed=train.seed)
    validation_ds = tf.data.Dataset.from_tensor_slices((x[held], y[held]))
    change_scale = 1.0
    if forecast and seq.inputs == "seasonal_change":  # from the fitted windows
        change_scale = seasonal_change_scale(x[fit], seq.season, cc.get("target_index", 0))
        log.info("  seasonal change of the target: std %.4f (standardized units) on %d windows",
                 change_scale, len(fit))
    model = build_rnn(window, features, seq.horizon if forecast else len(class_names), seq,
                      target_index=cc.get("target_index", 0), change_scale=change_scale)
    compile_rnn(model, seq.task, train.learning_rate)
    log.info("  training %s: %d parameters, up to %d epochs", model.name, model.count_params(), train.epochs)
    model.fit(fit_ds.batch(train.batch_size), validation_data=validation_ds.batch(train.batch_size),
              epochs=train.epochs, verbose=0, callbacks=build_callbacks(train, fn_args.model_run_dir))
    save_bare_model(model, fn_args.model_run_dir)  # before export_signatures attaches the Transform layer
    model.save(fn_args.serving_model_dir, save_format="tf",
               signatures=export_signatures(model, tft_output, seq.task, window, features, class_names))
