"""The one training loop every task's Trainer runs; a task supplies only what differs.

A :class:`TrainingTask` gives its fit/validation data, its network, its loss and metrics, and its
export (serving signatures and what goes beside the SavedModel). :func:`train` gives every task
the same, in this order:

1. the seed (``train.seed``), then the task's data (fit set and validation hold-out);
2. the ``train.distribute`` strategy's scope (models/training/distribute.py), inside which the model
   is built, warm-started from ``fn_args.base_model`` (``pipeline.warm_start``: the last blessed
   model, models/training/warm_start.py) and compiled with Adam(``train.learning_rate``,
   ``clipnorm=train.clipnorm``);
3. the diagnostics on a fixed probe batch (gradient health, dead units, overfitting, plus any the
   task adds with :meth:`TrainingTask.extra_diagnostics`), written to ``<model run>/diagnostics.json``;
4. the callbacks (models/training/callbacks.py): resume backups (``train.resume``), the weight average
   (``train.ema``, models/training/ema.py), early stopping on
   the validation hold-out, the best-weights checkpoint, the LR schedule, TensorBoard, the per-epoch
   console line and ``history.json``, and each epoch into MLflow's ``train`` child run as it ends
   (models/training/live_tracking.py);
5. fit; then, where the task asks for one (:meth:`TrainingTask.fine_tune`: a pretrained image backbone),
   a second stage of ``train.fine_tune_epochs`` at ``train.fine_tune_lr``, recompiled, with fresh callbacks
   (no diagnostics) continuing the epoch count; then ``<model run>/keras/model.keras`` (the bare network,
   for EdgeExport), then the task's export. A task whose untrained network is already a model
   (:meth:`TrainingTask.keeps_start_weights`) gets its start back if training did not beat it on
   validation (models/training/start_guard.py).
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from dataclasses import replace
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from edgeflow.config import DiagnosticsConfig, TrainConfig
from edgeflow.models.training.bare_model import save_bare_model
from edgeflow.models.training.callbacks import build_callbacks
from edgeflow.models.training.diagnostics import DiagnosticsReport, build_diagnostics
from edgeflow.models.training.distribute import is_chief, make_strategy, shard_by_data
from edgeflow.models.training.live_tracking import live_tracking
from edgeflow.models.training.start_guard import StartGuard
from edgeflow.models.training.warm_start import copy_matching_weights

keras = tf.keras
log = logging.getLogger("edgeflow.train")

DIAGNOSTICS_FILE = "diagnostics.json"  # under the model run dir; pipelines/results.py reads it back


class TrainingTask:
    """What one task (image, sequence, detection) supplies to :func:`train`; override the hooks.

    The three required hooks are :meth:`datasets`, :meth:`build_model` and :meth:`compile`;
    :meth:`export` writes the serving SavedModel. The others have defaults every task can keep.
    """

    name = "task"

    def datasets(self, train: TrainConfig) -> Tuple[object, object]:
        """(fit, validation): batched tf.data.Datasets or keras Sequences of ``(x, y)``; validation is
        the hold-out of the train split (models/training/validation.py) that early stopping watches."""
        raise NotImplementedError

    def build_model(self) -> keras.Model:
        """The network, built inside the distribution strategy's scope."""
        raise NotImplementedError

    def compile(self, model: keras.Model, optimizer) -> None:
        """``model.compile(optimizer, loss=..., metrics=...)`` with the task's loss and metrics."""
        raise NotImplementedError

    def describe(self, model: keras.Model, train: TrainConfig) -> str:
        """The console line before training."""
        return f"training {model.name}: {model.count_params()} parameters, up to {train.epochs} epochs"

    def probe(self, fit, size: int):
        """A fixed ``(x, y)`` batch of `size` training examples for the diagnostics."""
        return probe_batch(fit, size)

    def cures(self) -> Sequence[str]:
        """The overfitting cures this task's config switches on, in words."""
        return ["early stopping"]

    def advice(self) -> dict:
        """Replacements for the diagnostics' cures in words (``vanishing``, ``exploding``, ``dead``; see
        models/training/diagnostics.py GRADIENT_ADVICE), where this task's controls differ."""
        return {}

    def extra_diagnostics(self, probe, report: DiagnosticsReport, cfg: DiagnosticsConfig) -> list:
        """Task-specific diagnostics callbacks (e.g. the sequence task's gradient per time step); each
        writes under its own key of `report`."""
        return []

    def keeps_start_weights(self) -> bool:
        """Whether the untrained network is already a model to keep when training does not beat it on the
        validation hold-out (models/training/start_guard.py); asked after :meth:`datasets`. Default False."""
        return False

    def fine_tune(self, model: keras.Model, train: TrainConfig) -> Optional[str]:
        """After the first fit: makes `model` ready for a second stage (e.g. unfreezes the top of a
        pretrained backbone) and returns its console line; None (the default): one stage only."""
        return None

    def export(self, model: keras.Model, fn_args) -> None:
        """Writes the serving SavedModel to ``fn_args.serving_model_dir`` and anything that goes beside it."""
        model.save(fn_args.serving_model_dir, save_format="tf")


def probe_batch(data, size: int):
    """The first `size` examples of `data` (a batched tf.data.Dataset or a keras Sequence) as one ``(x, y)``."""
    if isinstance(data, tf.data.Dataset):
        return next(iter(data.unbatch().batch(size).take(1)))
    xs, ys, seen = [], [], 0
    for i in range(len(data)):
        x, y = data[i]
        xs.append(x), ys.append(y)
        seen += len(x)
        if seen >= size:
            break
    return np.concatenate(xs)[:size], np.concatenate(ys)[:size]


def make_optimizer(train: TrainConfig):
    """Adam at ``train.learning_rate``, each gradient's norm clipped to ``train.clipnorm`` (when set)."""
    return keras.optimizers.Adam(train.learning_rate, clipnorm=train.clipnorm)


def train(task: TrainingTask, fn_args, train_cfg: TrainConfig, diagnostics_cfg: Optional[DiagnosticsConfig] = None,
          backup_dir: Optional[str] = None, callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.Model:
    """Trains `task` and exports it; returns the trained model.

    `fn_args` needs ``model_run_dir``, ``serving_model_dir`` and ``base_model`` (None: no warm start),
    as TFX's FnArgs has them. `backup_dir`: where ``train.resume`` backs up every epoch (None: no
    backups). `callbacks` go after the skeleton's own (tests use them to watch or stop a training).
    Under ``train.distribute=multi_worker`` every worker calls this; only the chief's writes (the run's
    folders, MLflow) are kept.
    """
    strategy = make_strategy(train_cfg.distribute)  # first: a multi-worker strategy must precede other TF ops
    if is_chief(strategy):
        return _train(task, fn_args, train_cfg, strategy, diagnostics_cfg, backup_dir, callbacks, chief=True)
    # Not the chief of a multi-worker cluster: every write of the training still happens (saving a
    # distributed model is a collective step), into a scratch copy of the run's folders, removed after.
    scratch = tempfile.mkdtemp(prefix="edgeflow-worker-")
    worker_args = copy.copy(fn_args)
    worker_args.model_run_dir = os.path.join(scratch, "model_run")
    worker_args.serving_model_dir = os.path.join(scratch, "serving")
    try:
        return _train(task, worker_args, train_cfg, strategy, diagnostics_cfg,
                      backup_dir and os.path.join(scratch, "backup"), callbacks, chief=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train(task, fn_args, train_cfg, strategy, diagnostics_cfg, backup_dir, callbacks, chief):
    diagnostics_cfg = diagnostics_cfg or DiagnosticsConfig()
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    tf.keras.utils.set_random_seed(train_cfg.seed)
    fit, validation = (shard_by_data(d) for d in task.datasets(train_cfg))
    with strategy.scope():  # train.distribute: none, mirrored, multi_worker
        model = task.build_model()
        copy_matching_weights(model, getattr(fn_args, "base_model", None))  # pipeline.warm_start
        task.compile(model, make_optimizer(train_cfg))
    guard = StartGuard(model, validation) if task.keeps_start_weights() else None
    log.info("  %s", task.describe(model, train_cfg))
    diagnostics, report = [], None
    if diagnostics_cfg.enabled:
        probe = task.probe(fit, diagnostics_cfg.probe_size)
        report = DiagnosticsReport(os.path.join(fn_args.model_run_dir, DIAGNOSTICS_FILE))
        diagnostics = (build_diagnostics(diagnostics_cfg, probe, report, task.cures(), task.advice())
                       + task.extra_diagnostics(probe, report, diagnostics_cfg))
    tensorboard = os.path.join(fn_args.model_run_dir, "tensorboard") if train_cfg.tensorboard else None
    # each epoch into MLflow's train child run as it ends; the chief's alone
    live = live_tracking(fn_args, report, tensorboard) if chief else []
    history = model.fit(fit, validation_data=validation, epochs=train_cfg.epochs, verbose=0,
                        callbacks=build_callbacks(train_cfg, fn_args.model_run_dir, backup_dir, diagnostics, ema=train_cfg.ema) + live
                        + list(callbacks))
    stage = task.fine_tune(model, train_cfg)
    if stage:
        done = history.epoch[-1] + 1 if history.epoch else train_cfg.epochs
        second = replace(train_cfg, epochs=done + train_cfg.fine_tune_epochs, learning_rate=train_cfg.fine_tune_lr,
                         min_epochs=0, lr_schedule="constant" if train_cfg.lr_schedule == "cosine" else train_cfg.lr_schedule)
        log.info("  %s, epochs %d-%d at learning rate %g", stage, done + 1, second.epochs, second.learning_rate)
        with strategy.scope():
            task.compile(model, make_optimizer(second))
        model.fit(fit, validation_data=validation, initial_epoch=done, epochs=second.epochs, verbose=0,
                  callbacks=build_callbacks(second, fn_args.model_run_dir, backup_dir and backup_dir + "-fine_tune",
                                            first_epoch=done, ema=second.ema)
                  + (live_tracking(fn_args, report, tensorboard) if chief else []) + list(callbacks))
    if guard is not None:
        guard.settle()
    save_bare_model(model, fn_args.model_run_dir)  # for EdgeExport, before export attaches a Transform layer
    task.export(model, fn_args)
    return model
