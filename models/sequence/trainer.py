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
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from edgeflow.config import DiagnosticsConfig, SequenceConfig, TrainConfig, from_dict
from edgeflow.models.features import (LABEL_KEY, TARGET_FEATURE, TARGET_MEAN, TARGET_STD, TIME_KEY,
                                      WINDOW_FEATURE, WINDOW_KEY)
from edgeflow.models.splits import read_split
from edgeflow.models.sequence.gradients import time_step_gradient_callbacks
from edgeflow.models.sequence.model import build_rnn, compile_rnn, seasonal_change_scale
from edgeflow.models.sequence.residual import CLIPPED, REACHES, RangeSwitch, ResidualFeatures, clip_bounds, fit_ridge, season_profile
from edgeflow.models.sequence.smoothing import HoltWintersAnchor, choose_init, contiguous_series, fit_smoothing
from edgeflow.models.training.skeleton import TrainingTask, train
from edgeflow.models.training.validation import split_by_time, split_indices

log = logging.getLogger("edgeflow.train")


def load_train_split(files, tft_output, label_key: str, shape, with_time: bool):
    """The train split in memory, through the one split reader (models/splits.py): x (N, W, F) normalized
    windows, y (N, H) normalized targets or (N, 1) class ids, and (forecast) the row index of each
    window's first target step (N,)."""
    spec = tft_output.transformed_feature_spec()
    keys = [WINDOW_FEATURE, label_key] + ([TIME_KEY] if with_time else [])
    data = read_split(files, {key: spec[key] for key in keys})
    x = data[WINDOW_FEATURE].reshape(-1, *shape).astype(np.float32)
    return x, data[label_key], (data[TIME_KEY].reshape(-1) if with_time else None)


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


class SequenceTask(TrainingTask):
    """The RNN's hooks for the training skeleton (models/training/skeleton.py).

    Args:
        x: (N, W, F) normalized train windows; y: (N, H) normalized targets or (N, 1) class ids;
        steps: (N,) row index of each window's first target step (forecast), else None.
        tft_output: the Transform graph the export wraps around the model (None: a plain SavedModel).
    """

    name = "sequence"

    def __init__(self, seq: SequenceConfig, x, y, steps=None, class_names=(), target_index: int = 0,
                 tft_output=None):
        self.seq, self.x, self.y, self.steps = seq, x, y, steps
        self.class_names, self.target_index, self.tft_output = list(class_names), target_index, tft_output
        self.forecast, self.change_scale, self.smoothing, self.ridge = seq.task == "forecast", 1.0, None, None

    def datasets(self, train: TrainConfig):
        # Early stopping, the checkpoint and the LR schedule watch a hold-out of the train split, never
        # the eval split the Evaluator scores: the latest windows for a series, every k-th sequence else.
        x, y, seq = self.x, self.y, self.seq
        fit, held = (split_by_time(self.steps, train.validation_fraction, seq.window, seq.horizon) if self.forecast
                     else split_indices(len(x), train.validation_fraction))
        log.info("  %d train windows: %d fitted, %d held out for validation%s", len(x), len(fit), len(held),
                 f", {len(x) - len(fit) - len(held)} in the gap between" if self.forecast else "")
        if self.forecast and seq.inputs == "seasonal_change":  # from the fitted windows
            self.change_scale = seasonal_change_scale(x[fit], seq.season, self.target_index)
            log.info("  seasonal change of the target: std %.4f (standardized units) on %d windows",
                     self.change_scale, len(fit))
        if self.forecast and seq.anchor == "holt_winters":  # fitted on the fitted windows' series only
            series = contiguous_series(x[fit], self.y[fit], self.steps[fit], self.target_index)
            sm = choose_init(fit_smoothing(series, seq.season), x[fit], self.y[fit], self.target_index)
            self.smoothing = sm.to_dict()
            log.info("  Holt-Winters anchor on %d train rows: alpha %.3f, beta %.3f, gamma %.3f, %s init",
                     len(series), sm.alpha, sm.beta, sm.gamma, sm.init)
            if seq.uses_ridge_head:
                self.ridge = self.fit_ridge_head(fit, held)
        fit_ds = tf.data.Dataset.from_tensor_slices((x[fit], y[fit])).shuffle(len(fit), seed=train.seed)
        validation_ds = tf.data.Dataset.from_tensor_slices((x[held], y[held]))
        return fit_ds.batch(train.batch_size), validation_ds.batch(train.batch_size)

    def fit_ridge_head(self, fit, held) -> dict:
        """The frozen ridge heads (models/sequence/residual.py): for each reach, the residual of its base (the
        long head's: the window's last value; the short head's: the anchor), clip bounds (short) and weights
        from the fitted windows, the penalty from the validation windows; the range switch's bounds are the
        fitted windows' season profile minimum and maximum."""
        anchor, seq, t = HoltWintersAnchor(self.seq.horizon, self.smoothing, self.target_index), self.seq, self.target_index
        residuals, errors = {}, {}
        for name, idx in (("fit", fit), ("held", held)):
            forecast, errors[name] = anchor(self.x[idx])
            residuals["short", name] = self.y[idx] - forecast.numpy()
            residuals["long", name] = self.y[idx] - self.x[idx][:, -1:, t]
        heads = {}
        for reach in REACHES:
            raw = ResidualFeatures(seq.season, t, reach=reach)
            f_fit, f_held = (raw([self.x[idx], errors[name]]).numpy() for name, idx in (("fit", fit), ("held", held)))
            low, high = clip_bounds(f_fit) if CLIPPED[reach] else (None, None)
            clipped = ResidualFeatures(seq.season, t, low, high, reach)
            head = fit_ridge(clipped.clip(f_fit), residuals[reach, "fit"], clipped.clip(f_held), residuals[reach, "held"])
            log.info("  %s ridge head: %d features, lambda %g; validation MAE %.4f -> %.4f (standardized units, "
                     "from the %s)", reach, f_fit.shape[1], head["lambda"], head["val_mae_anchor"], head["val_mae_head"],
                     "last value" if reach == "long" else "anchor")
            heads[reach] = {"low": low, "high": high, "kernel": head["kernel"], "bias": head["bias"]}
        profile = season_profile(self.x[fit], seq.season, self.target_index).numpy()  # (N, K)
        heads["switch"] = {"low": profile.min(axis=0).tolist(), "high": profile.max(axis=0).tolist()}
        switch = RangeSwitch(seq.season, heads["switch"]["low"], heads["switch"]["high"], self.target_index)
        outside = float(switch.outside(self.x[held]).numpy().mean()) if len(held) else 0.0
        log.info("  range switch: %d season means; %.0f%% of validation windows leave the train range (short head)",
                 profile.shape[1], 100 * outside)
        return heads

    def keeps_start_weights(self) -> bool:
        """The hybrid starts at anchor + ridge heads with a zero RNN correction: a forecaster to keep if
        training the RNN does not beat it on validation (models/training/start_guard.py)."""
        return self.ridge is not None

    def build_model(self):
        outputs = self.seq.horizon if self.forecast else len(self.class_names)
        return build_rnn(self.seq.window, self.x.shape[-1], outputs, self.seq, target_index=self.target_index,
                         change_scale=self.change_scale, smoothing=self.smoothing, ridge=self.ridge)

    def compile(self, model, optimizer):
        compile_rnn(model, self.seq.task, optimizer=optimizer)

    def cures(self):
        cures = [f"{k.replace('_', ' ')} {v}" for k, v in
                 (("dropout", self.seq.dropout), ("recurrent_dropout", self.seq.recurrent_dropout)) if v]
        return cures + ["early stopping"]

    def extra_diagnostics(self, probe, report, cfg):
        """Recurrent-network diagnostics beside the shared three: the gradient of the loss with respect to
        each input time step (models/sequence/gradients.py), written beside diagnostics.json as
        time_step_gradients.json / .png."""
        if report.path is None:
            return []
        return time_step_gradient_callbacks(os.path.dirname(report.path), probe, cfg)

    def export(self, model, fn_args):
        if self.tft_output is None:
            return super().export(model, fn_args)
        model.save(fn_args.serving_model_dir, save_format="tf",
                   signatures=export_signatures(model, self.tft_output, self.seq.task, self.seq.window,
                                                self.x.shape[-1], self.class_names))


def run_fn(fn_args: tfx.components.FnArgs):
    cc = fn_args.custom_config
    seq, train_cfg = from_dict(SequenceConfig, cc["sequence"]), from_dict(TrainConfig, cc["train"])
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    forecast = seq.task == "forecast"
    x, y, steps = load_train_split(fn_args.train_files, tft_output,
                                   TARGET_FEATURE if forecast else LABEL_KEY, (seq.window, cc["features"]),
                                   with_time=forecast)
    task = SequenceTask(seq, x, y, steps, cc.get("class_names") or [], cc.get("target_index", 0), tft_output)
    train(task, fn_args, train_cfg, from_dict(DiagnosticsConfig, cc.get("diagnostics", {})), cc.get("backup_dir"))
