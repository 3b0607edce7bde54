"""Gradient through time: how much each input step of a window moves the loss.

For a recurrent network the gradient of the loss with respect to an early step passes back
through every later step of the recurrence; with a SimpleRNN it is multiplied by the
recurrent Jacobian at each step and shrinks geometrically (vanishing gradients), so the model
cannot learn what depends on the start of a long window. LSTM and GRU carry a gated, additive
state that lets it through. This module measures that directly, on a fixed probe batch:

* :func:`time_step_gradient_norms` - ``||dL/dx_t||`` for t = 1..W, over the batch and features;
* :func:`decay_summary` - first step's norm / last step's, the e-folding length in steps, the verdict;
* :class:`TimeStepGradients` - a callback that measures it at the end of training (and every N
  epochs), logs one line, and writes ``time_step_gradients.json`` and ``time_step_gradients.png``;
* :func:`time_step_gradient_callbacks` - the list a sequence Trainer adds to its callbacks.

A forecaster's head adds its correction to an anchor read straight from the input (the last or
the seasonal value, see models/sequence/model.py). That skip path hands the anchored steps a
gradient that never crossed the recurrence, so by default it is taken out of the profile
(``network_only=True``): what is left is the gradient through the network. With
``sequence.inputs=seasonal_change`` the RNN reads step t twice (as the value at t and in the change
at t + S), so the profile over the W input steps holds the recurrence's decay twice, one season apart.
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from edgeflow import EdgeflowError
from edgeflow.config import DiagnosticsConfig

keras = tf.keras
log = logging.getLogger("edgeflow.train")

JSON_NAME = "time_step_gradients.json"
PLOT_NAME = "time_step_gradients.png"
ANCHOR_LAYERS = ("last_value", "seasonal_value")  # models/sequence/model.py anchor_forecast's layer names


class TimeStepGradientError(EdgeflowError, ValueError):
    """A probe batch or setting the time-step gradient diagnostic cannot use."""


def _anchor_model(model: keras.Model) -> Optional[keras.Model]:
    """(B, W, F) -> (B, H): the forecaster's anchor, or None when the model has none."""
    for name in ANCHOR_LAYERS:
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        return keras.Model(model.inputs, layer.output)
    return None


def _check_probe(model: keras.Model, x) -> tf.Tensor:
    x = tf.convert_to_tensor(x, tf.float32)
    if len(model.inputs) != 1:
        raise TimeStepGradientError(
            f"the model {model.name} has {len(model.inputs)} inputs; the time-step gradient needs one (B, W, F) input.")
    expected = tuple(model.inputs[0].shape[1:])
    if x.shape.rank != 3 or tuple(x.shape[1:]) != expected:
        raise TimeStepGradientError(
            f"the probe batch has shape {tuple(x.shape)} but the model {model.name} reads (B, {expected[0]}, "
            f"{expected[1] if len(expected) > 1 else '?'}) windows; pass windows of the model's own shape.")
    return x


def make_norms_fn(model: keras.Model, x, y, loss_fn: Optional[Callable] = None,
                  network_only: bool = True) -> Callable[[], tf.Tensor]:
    """A compiled function () -> (W,) ``||dL/dx_t||`` on the fixed probe (x (B, W, F), y).

    `loss_fn(y_true, y_pred)` is the loss; without it, the model's compiled loss (``compute_loss``).
    """
    x = _check_probe(model, x)
    y = tf.convert_to_tensor(y)
    if loss_fn is None and getattr(model, "compiled_loss", None) is None:
        raise TimeStepGradientError(
            f"the model {model.name} is not compiled and no loss_fn was given; compile it or pass loss_fn.")
    anchor = _anchor_model(model) if network_only else None

    strategy = model.distribute_strategy

    def replica_norms():  # forward, loss, backward on the probe batch -> (W,)
        with tf.GradientTape(persistent=anchor is not None) as tape:
            tape.watch(x)
            y_pred = model(x, training=False)  # (B, H) or (B, C)
            # Under a tf.distribute strategy the compiled loss is divided by the replicas; undo it.
            loss = (loss_fn(y, y_pred) if loss_fn is not None
                    else model.compute_loss(x, y, y_pred) * strategy.num_replicas_in_sync)
        grad = tape.gradient(loss, x)  # (B, W, F)
        if anchor is not None:  # y_pred = correction + anchor(x): take out the anchor's direct share
            d_pred = tape.gradient(loss, y_pred)  # (B, H)
            with tf.GradientTape() as skip:
                skip.watch(x)
                a = anchor(x, training=False)  # (B, H)
            grad = grad - skip.gradient(a, x, output_gradients=d_pred)
        grad = tf.cast(grad, tf.float64)  # squares of float32 norms below 1e-19 would underflow to 0
        return tf.sqrt(tf.reduce_sum(tf.square(grad), axis=(0, 2)))  # (W,) over the batch and features

    @tf.function
    def norms():  # one graph, in a replica's context as Keras' own train step (train.distribute)
        return strategy.experimental_local_results(strategy.run(replica_norms))[0]

    return norms


def time_step_gradient_norms(model: keras.Model, x, y, loss_fn: Optional[Callable] = None,
                             network_only: bool = True) -> np.ndarray:
    """(W,) float64: ``||dL/dx_t||`` for t = 1..W on the probe batch x (B, W, F) with targets y."""
    return make_norms_fn(model, x, y, loss_fn, network_only)().numpy().astype(np.float64)


def efolding_steps(profile) -> float:
    """Steps back from the last one over which the norm falls by a factor e (a least-squares fit of
    log norm against t, over the steps whose norm is above 0); inf when it does not fall."""
    p = np.asarray(profile, np.float64)
    t = np.flatnonzero(p > 0)  # steps whose gradient underflowed to 0 carry no slope
    if len(t) < 2:
        return math.inf
    slope = np.polyfit(t.astype(np.float64), np.log(p[t]), 1)[0]  # log-norm growth per step
    return float(1.0 / slope) if slope > 0 else math.inf


def decay_summary(profile, vanishing_ratio: float = DiagnosticsConfig.vanishing_ratio) -> dict:
    """The profile (W,) -> first/last ratio, e-folding length, the verdict and one readable message."""
    if not 0 < vanishing_ratio < 1:
        raise TimeStepGradientError(f"vanishing_ratio is {vanishing_ratio}; it must lie in (0, 1), e.g. 1e-3.")
    p = np.asarray(profile, np.float64)
    first, last = float(p[0]), float(p[-1])
    finite = bool(np.all(np.isfinite(p)))
    ratio = first / last if last > 0 else (math.inf if first > 0 else math.nan)
    vanishing = finite and ratio < vanishing_ratio
    efold = efolding_steps(p) if finite else math.nan
    w = len(p)
    if not finite:
        message = (f"time-step gradients are not finite (window {w}); clip gradients (train.clipnorm=1.0) "
                   "or lower train.learning_rate")
    elif vanishing:
        message = (f"vanishing gradients through time: step 1's gradient is {ratio:.1e} x step {w}'s "
                   f"(e-folding length {efold:.1f} steps); the first steps of the window barely train - "
                   "use an LSTM or GRU (sequence.cell=lstm|gru) or a shorter window")
    else:
        message = (f"gradients reach the first step (step 1 / step {w} norm ratio {ratio:.2g}, "
                   f"e-folding length {'none' if math.isinf(efold) else f'{efold:.1f} steps'})")
    return {"window": w, "first_to_last": ratio, "efold_steps": efold, "vanishing": bool(vanishing),
            "flagged": bool(vanishing or not finite), "vanishing_ratio": vanishing_ratio, "message": message}


def time_step_gradients(model: keras.Model, x, y, loss_fn: Optional[Callable] = None,
                        vanishing_ratio: float = DiagnosticsConfig.vanishing_ratio, network_only: bool = True) -> dict:
    """The profile ``||dL/dx_t||`` (a list of W floats) and its :func:`decay_summary`, on the probe (x, y)."""
    profile = time_step_gradient_norms(model, x, y, loss_fn, network_only)
    return {"profile": profile.tolist(), **decay_summary(profile, vanishing_ratio)}


def plot_profiles(profiles: Dict[str, object], path: str, title: str = "gradient through time") -> str:
    """One log-scale line per named profile (W,), step 1..W on x, each divided by its last step's norm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, profile in profiles.items():
        p = np.asarray(profile, np.float64)
        ax.semilogy(np.arange(1, len(p) + 1), np.maximum(p / max(p[-1], 1e-300), 1e-30), label=name)
    ax.set_xlabel("input time step t (1 = oldest)")
    ax.set_ylabel("||dL/dx_t|| / ||dL/dx_W||")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class TimeStepGradients(keras.callbacks.Callback):
    """Measures the time-step gradient profile at the end of training (and every `every` epochs).

    Args:
        probe: ``(x, y)``: x (P, W, F) windows and their targets, fixed for the whole training.
        out_dir: where ``time_step_gradients.json`` and ``time_step_gradients.png`` go (the model run dir).
        vanishing_ratio: step 1's norm / step W's below this is vanishing.
        every: also measure after every `every`-th epoch (0: only at the end).
        loss_fn: ``loss_fn(y_true, y_pred)``; default the model's compiled loss.
    """

    def __init__(self, probe, out_dir: str, vanishing_ratio: float = DiagnosticsConfig.vanishing_ratio,
                 every: int = 0, loss_fn: Optional[Callable] = None, network_only: bool = True):
        super().__init__()
        if not isinstance(probe, (tuple, list)) or len(probe) != 2:
            raise TimeStepGradientError("probe must be an (x, y) pair: windows (P, W, F) and their targets.")
        if np.ndim(probe[0]) != 3 or len(probe[0]) < 1:
            raise TimeStepGradientError(
                f"the probe windows have shape {np.shape(probe[0])}; pass at least one (W, F) window, as (P, W, F).")
        if not 0 < vanishing_ratio < 1:
            raise TimeStepGradientError(f"vanishing_ratio is {vanishing_ratio}; it must lie in (0, 1), e.g. 1e-3.")
        if not isinstance(every, int) or every < 0:
            raise TimeStepGradientError(f"every is {every!r}; it must be a whole number of epochs, 0 for the end only.")
        if not out_dir:
            raise TimeStepGradientError("out_dir is empty; pass the folder the profile files should go to.")
        self.probe = (np.asarray(probe[0], np.float32), np.asarray(probe[1]))
        self.out_dir, self.vanishing_ratio, self.every = out_dir, vanishing_ratio, every
        self.loss_fn, self.network_only = loss_fn, network_only

    def on_train_begin(self, logs=None):
        self.checks: List[dict] = []
        self._epoch = 0
        self._norms = make_norms_fn(self.model, *self.probe, loss_fn=self.loss_fn, network_only=self.network_only)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.every and self._epoch % self.every == 0:
            self._check()

    def _check(self) -> dict:
        profile = self._norms().numpy().astype(np.float64)
        check = {"epoch": self._epoch, "profile": profile.tolist(), **decay_summary(profile, self.vanishing_ratio)}
        self.checks.append(check)
        return check

    def report(self) -> dict:
        """The last check (its profile, ratio, e-folding length, verdict) and the earlier ones' summaries."""
        last = self.checks[-1]
        history = [{k: c[k] for k in ("epoch", "first_to_last", "efold_steps", "vanishing")} for c in self.checks]
        return {**last, "checks": history}

    def on_train_end(self, logs=None):
        if not self.checks or self.checks[-1]["epoch"] != self._epoch:
            self._check()
        report = self.report()
        tf.io.gfile.makedirs(self.out_dir)
        with tf.io.gfile.GFile(os.path.join(self.out_dir, JSON_NAME), "w") as f:
            json.dump(_json_safe(report), f, indent=1)
        plot_profiles({self.model.name: report["profile"]}, os.path.join(self.out_dir, PLOT_NAME),
                      f"gradient through time, epoch {report['epoch']}")
        (log.warning if report["flagged"] else log.info)("  diagnostics: %s", report["message"])


def _json_safe(value):
    """inf/nan -> None (JSON has neither), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def time_step_gradient_callbacks(model_run_dir: str, probe, cfg: DiagnosticsConfig, every: int = 0,
                                 loss_fn: Optional[Callable] = None) -> list:
    """The sequence Trainer's time-step gradient callback(s): ``[]`` when ``diagnostics.enabled`` is false.

    `probe` is ``(x, y)`` with x (P, W, F); only its first ``diagnostics.probe_size`` examples are used.
    """
    if not cfg.enabled:
        return []
    x, y = probe
    n = cfg.probe_size
    return [TimeStepGradients((np.asarray(x)[:n], np.asarray(y)[:n]), model_run_dir, cfg.vanishing_ratio,
                              every=every, loss_fn=loss_fn)]
