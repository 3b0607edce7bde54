"""Training diagnostics: callbacks that watch a training and say in plain words what is wrong.

* :class:`GradientHealth` - per-layer gradient norms on a fixed probe batch; flags vanishing
  gradients (the first layer's norm orders of magnitude below the last layer's) and exploding ones.
* :class:`DeadUnits` - the share of ReLU-family units that output zero for the whole probe batch,
  per layer; a layer past the threshold is dead and Leaky ReLU is recommended.
* :class:`Overfitting` - the train-validation loss gap and its trend; when it started, whether
  val_loss is already rising, and which cures are configured.

Each writes its report under its own key of one JSON file (``diagnostics.json`` in the model
run dir, via :class:`DiagnosticsReport`) and logs a verdict line when training ends.
"""
from __future__ import annotations

import json
import logging
import math
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from edgeflow.models.controls import RELU_FAMILY

keras = tf.keras
log = logging.getLogger("edgeflow.train")


class DiagnosticsReport:
    """One JSON file of ``{diagnostic name: report}``: rewritten at most every `interval` seconds
    while training (so a killed training leaves a recent one) and on :meth:`flush`."""

    def __init__(self, path: Optional[str], interval: float = 10.0):
        self.path, self.interval, self.reports, self._written = path, interval, {}, 0.0

    def put(self, name: str, report: dict) -> None:
        self.reports[name] = report
        if time.monotonic() - self._written > self.interval:
            self.flush()

    def flush(self) -> None:
        if self.path:
            with tf.io.gfile.GFile(self.path, "w") as f:
                json.dump(self.reports, f, indent=1)
        self._written = time.monotonic()


def _say(report: dict, sink: DiagnosticsReport) -> None:
    sink.flush()
    (log.warning if report["flagged"] else log.info)("  diagnostics: %s", report["message"])


GRADIENT_ADVICE = {  # what to do, for a network built from the shared controls (models/controls.py)
    "vanishing": ("a ReLU-family activation (model.activation=relu or leaky_relu), He initialization "
                  "(model.initializer=he_normal) or batch norm (model.batch_norm=true)"),
    "exploding": "clip gradients (train.clipnorm=1.0), lower train.learning_rate or add batch norm (model.batch_norm=true)",
    "dead": "use Leaky ReLU (model.activation=leaky_relu), a lower train.learning_rate or batch norm",
}


class GradientHealth(keras.callbacks.Callback):
    """Gradient norm of every kernel on the probe batch, before training and after each epoch.

    Args:
        probe: ``(x, y)``, e.g. x (P, H, W, C) and y (P,), fixed for the whole training.
        vanishing_ratio: first layer's norm / last layer's norm below this is vanishing.
        exploding_norm: any layer's norm above this (or not finite) is exploding.
        advice: the cures each message names, by ``"vanishing"`` / ``"exploding"`` (default
            :data:`GRADIENT_ADVICE`, the cnn's controls); a task whose controls differ (an image
            backbone, which has batch norm already) gives its own.
    """

    def __init__(self, probe, report: DiagnosticsReport, vanishing_ratio: float = 1e-3,
                 exploding_norm: float = 1e3, advice: Optional[Dict[str, str]] = None):
        super().__init__()
        if not 0 < vanishing_ratio < 1 or exploding_norm <= 0:
            raise ValueError("vanishing_ratio must be in (0, 1) and exploding_norm above 0")
        self.probe, self.sink = tuple(tf.nest.map_structure(tf.convert_to_tensor, t) for t in probe), report
        self.vanishing_ratio, self.exploding_norm = vanishing_ratio, exploding_norm
        self.advice = {**GRADIENT_ADVICE, **(advice or {})}

    def layer_gradient_norms(self) -> Dict[str, float]:
        """{layer name: L2 norm of d loss / d kernel}, layers in the model's order."""
        if getattr(self, "_norms_model", None) is not self.model:
            self._norms_model = self.model
            self._layer_names, self._norms_fn = self._make_norms_fn()
        return {name: float(n) for name, n in zip(self._layer_names, self._norms_fn().numpy())}

    def _make_norms_fn(self):
        x, y = self.probe
        kernels = [(layer.name, w) for layer in self.model.layers for w in layer.trainable_weights
                   if "kernel" in w.name]
        model = self.model

        strategy = model.distribute_strategy

        def replica_norms():  # forward, loss, backward on the whole probe batch -> (K,) norms
            with tf.GradientTape() as tape:
                # Under a tf.distribute strategy the compiled loss is divided by the replicas; undo it.
                loss = model.compute_loss(x, y, model(x, training=False)) * strategy.num_replicas_in_sync
            grads = tape.gradient(loss, [w for _, w in kernels])
            return tf.stack([tf.norm(g) if g is not None else tf.constant(0.0) for g in grads])

        @tf.function
        def norms():  # one graph; in a replica's context, as Keras' own train step (train.distribute)
            return strategy.experimental_local_results(strategy.run(replica_norms))[0]

        return [name for name, _ in kernels], norms

    def on_train_begin(self, logs=None):
        self.checks: List[dict] = []
        self._check(0)

    def on_epoch_end(self, epoch, logs=None):
        self._check(epoch + 1)

    def _check(self, epoch: int) -> None:
        norms = self.layer_gradient_norms()
        values = list(norms.values())
        ratio = values[0] / values[-1] if values and values[-1] > 0 else float("inf")
        self.checks.append({"epoch": epoch, "norms": norms, "first_to_last": ratio,
                            "vanishing": ratio < self.vanishing_ratio,
                            "exploding": any(not math.isfinite(v) or v > self.exploding_norm for v in values)})
        self.sink.put("gradient_health", self.report())

    def report(self) -> dict:
        vanishing = [c["epoch"] for c in self.checks if c["vanishing"]]
        exploding = [c["epoch"] for c in self.checks if c["exploding"]]
        last = self.checks[-1]
        # Vanishing is judged on the latest check: a head that starts at zero (the sequence hybrid's
        # correction) passes no gradient back before its first update, which is not a deep net's vanishing.
        if last["vanishing"]:
            message = (f"vanishing gradients (first seen at epoch {vanishing[0]}): the first layer's gradient norm is "
                       f"{last['first_to_last']:.1e} x the last layer's; use {self.advice['vanishing']}")
        elif exploding:
            message = (f"exploding gradients (epoch {exploding[0]}): a layer's gradient norm passed "
                       f"{self.exploding_norm:g}; {self.advice['exploding']}")
        else:
            message = f"gradients healthy (first/last layer norm ratio {last['first_to_last']:.2g})"
            if vanishing:
                message += f"; below {self.vanishing_ratio:g} at epoch {', '.join(map(str, vanishing))} only, recovered since"
        return {"flagged": bool(last["vanishing"] or exploding), "vanishing": bool(last["vanishing"]),
                "exploding": bool(exploding), "first_vanishing_epoch": vanishing[0] if vanishing else None,
                "first_exploding_epoch": exploding[0] if exploding else None,
                "message": message, "checks": self.checks}

    def on_train_end(self, logs=None):
        _say(self.report(), self.sink)


def relu_family_layers(model: keras.Model) -> list:
    """Layers whose output is a ReLU-family activation (Activation, ReLU/LeakyReLU/PReLU/ELU, Dense(activation=))."""
    out = []
    for layer in model.layers:
        act = layer.get_config().get("activation")
        if isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU)) \
                or (isinstance(act, str) and act in RELU_FAMILY):
            out.append(layer)
    return out


def dead_fraction(activations) -> float:
    """(P, ..., U) activations -> share of the U units that are exactly 0 for every example and position."""
    a = np.asarray(activations)
    fired = np.any(a.reshape(-1, a.shape[-1]) != 0, axis=0)
    return float(1.0 - fired.mean())


class DeadUnits(keras.callbacks.Callback):
    """Per ReLU-family layer, the share of units that never fire on the probe batch x (P, ...)."""

    def __init__(self, probe_x, report: DiagnosticsReport, threshold: float = 0.5, advice: Optional[str] = None):
        super().__init__()
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.probe_x, self.sink, self.threshold = tf.convert_to_tensor(probe_x), report, threshold
        self.advice = advice or GRADIENT_ADVICE["dead"]

    def on_train_begin(self, logs=None):
        self.layers = relu_family_layers(self.model)
        self._probe = None
        if self.layers:  # one graph: the probe batch -> every ReLU-family layer's output
            probe_model = keras.Model(self.model.inputs, [layer.output for layer in self.layers])
            self._probe = tf.function(lambda: probe_model(self.probe_x, training=False))
        self.checks: List[dict] = []

    def fractions(self) -> Dict[str, float]:
        if self._probe is None:
            return {}
        outputs = self._probe()
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {layer.name: dead_fraction(o) for layer, o in zip(self.layers, outputs)}

    def on_epoch_end(self, epoch, logs=None):
        self.checks.append({"epoch": epoch + 1, "dead_fraction": self.fractions()})
        self.sink.put("dead_units", self.report())

    def report(self) -> dict:
        last = self.checks[-1]["dead_fraction"] if self.checks else {}
        dead = {name: f for name, f in last.items() if f > self.threshold}
        if dead:
            worst = max(dead, key=dead.get)
            message = (f"dead ReLU units: {len(dead)} layer(s) have more than {self.threshold:.0%} units that never "
                       f"fire (worst {worst}: {dead[worst]:.0%}); {self.advice}")
        elif not self.layers:  # e.g. an LSTM/GRU with tanh units: they saturate, they do not die
            message = ("dead-unit check does not apply: no ReLU-family layers (tanh and sigmoid units, as in "
                       "LSTM/GRU cells, saturate instead of dying; gradient_health watches for that)")
        else:
            message = f"no dead layers ({len(last)} ReLU-family layers checked)"
        return {"flagged": bool(dead), "applies": bool(self.layers), "dead_layers": dead, "threshold": self.threshold,
                "message": message, "checks": self.checks}

    def on_train_end(self, logs=None):
        if self.checks:
            _say(self.report(), self.sink)


class Overfitting(keras.callbacks.Callback):
    """The generalization gap ``val_loss - loss`` per epoch and its trend.

    Overfitting = the last epoch's gap is past `gap_threshold`; it started at the first epoch
    after which the gap stayed past it. The report also says whether val_loss is already rising
    (past its best epoch) and which cures are configured.

    Args:
        cures: the cures already configured, in words (see ``controls.configured_cures``).
    """

    ALL_CURES = ("dropout", "L2", "early stopping", "a smaller model (model.filters, model.blocks)", "more data")

    def __init__(self, report: DiagnosticsReport, gap_threshold: float = 0.1, cures: Sequence[str] = ()):
        super().__init__()
        if gap_threshold <= 0:
            raise ValueError("gap_threshold must be above 0")
        self.sink, self.gap_threshold, self.cures = report, gap_threshold, list(cures)

    def on_train_begin(self, logs=None):
        self.epochs: List[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if "val_loss" not in logs:
            return
        self.epochs.append({"epoch": epoch + 1, "loss": float(logs["loss"]), "val_loss": float(logs["val_loss"]),
                            "gap": float(logs["val_loss"] - logs["loss"])})
        self.sink.put("overfitting", self.report())

    def report(self) -> dict:
        if not self.epochs:
            return {"flagged": False, "message": "no validation loss to compare with", "epochs": []}
        best = min(self.epochs, key=lambda e: e["val_loss"])
        last = self.epochs[-1]
        recent = [e["gap"] for e in self.epochs[-5:]]
        trend = float(np.polyfit(range(len(recent)), recent, 1)[0]) if len(recent) > 1 else 0.0
        flagged = last["gap"] > self.gap_threshold
        started = None
        if flagged:
            started = last["epoch"]
            for e in reversed(self.epochs):
                if e["gap"] <= self.gap_threshold:
                    break
                started = e["epoch"]
        rising = last["val_loss"] > best["val_loss"]
        if flagged:
            missing = [c for c in self.ALL_CURES if not any(c.split()[0].lower() in k.lower() for k in self.cures)]
            where = (f"val_loss is rising since epoch {best['epoch'] + 1} ({best['val_loss']:.3f} -> "
                     f"{last['val_loss']:.3f})" if rising else "val_loss is still falling")
            message = (f"overfitting since epoch {started}: val_loss - loss gap {last['gap']:.3f} "
                       f"({trend:+.3f}/epoch, train loss {last['loss']:.3f}); {where}; configured cures: "
                       f"{', '.join(self.cures) or 'none'}; try: {', '.join(missing[:3]) or 'more data'}")
        else:
            message = f"no overfitting (final val_loss - loss gap {last['gap']:.3f}, {trend:+.3f}/epoch)"
        return {"flagged": flagged, "started_epoch": started, "best_epoch": best["epoch"], "val_loss_rising": rising,
                "final_gap": last["gap"], "gap_trend": trend, "cures": self.cures,
                "message": message, "epochs": self.epochs}

    def on_train_end(self, logs=None):
        if self.epochs:
            _say(self.report(), self.sink)


def build_diagnostics(cfg, probe, report, cures: Sequence[str] = (), advice: Optional[Dict[str, str]] = None) -> list:
    """The three diagnostics from a :class:`DiagnosticsConfig`; `probe` is ``(x, y)``; `report` is a
    :class:`DiagnosticsReport` or the path of its JSON file (None: not written); `advice` replaces
    entries of :data:`GRADIENT_ADVICE` (``vanishing``, ``exploding``, ``dead``)."""
    if not cfg.enabled:
        return []
    report = report if isinstance(report, DiagnosticsReport) else DiagnosticsReport(report)
    advice = {**GRADIENT_ADVICE, **(advice or {})}
    return [GradientHealth(probe, report, cfg.vanishing_ratio, cfg.exploding_norm, advice),
            DeadUnits(probe[0], report, cfg.dead_fraction, advice["dead"]),
            Overfitting(report, cfg.overfit_gap, cures)]
