"""Model controls shared by every architecture: activation, initializer, regularizer, normalization.

Each helper takes plain values (not a config class), so the CNN, the RNN and any later
model build their layers the same way. :func:`layer_kwargs` reads them from any config
object that has the fields ``initializer``, ``l1``, ``l2`` and ``seed`` (optional).
The allowed names live in :mod:`edgeflow.config` (``ACTIVATIONS``,
``INITIALIZERS``), where the config checks them at load time.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

layers = tf.keras.layers

# Activations with a zero region, whose units can die (see models/training/diagnostics.py).
RELU_FAMILY = ("relu", "leaky_relu", "prelu", "elu", "gelu")


def apply_activation(x, activation: str, name: str, alpha: float = 0.1):
    """(B, ...) -> (B, ...); ``leaky_relu`` uses `alpha` as its negative slope.

    ``prelu`` is a leaky ReLU whose negative slope is learned, one per channel (shared over every
    axis between the batch and the last: ``shared_axes=[1, 2]`` for (B, H, W, C)), starting at
    `alpha`. The Edge TPU runs PReLU, not LeakyReLU (models/controls.py, edge/edgetpu.py)."""
    if activation == "leaky_relu":
        return layers.LeakyReLU(alpha=alpha, name=name)(x)
    if activation == "prelu":
        shared = list(range(1, len(x.shape) - 1)) or None  # (B, H, W, C) -> [1, 2]; (B, U) -> one per unit
        return layers.PReLU(alpha_initializer=tf.keras.initializers.Constant(alpha), shared_axes=shared,
                            name=name)(x)
    return layers.Activation(activation, name=name)(x)


def kernel_initializer(name: str, seed: Optional[int] = None):
    """A Keras initializer by name (he_normal, he_uniform, glorot_uniform, lecun_normal)."""
    init = tf.keras.initializers
    classes = {"he_normal": init.HeNormal, "he_uniform": init.HeUniform,
               "glorot_uniform": init.GlorotUniform, "lecun_normal": init.LecunNormal}
    return classes[name](seed=seed)


def kernel_regularizer(l1: float = 0.0, l2: float = 0.0):
    """An L1/L2 weight penalty, or None when both are zero (no extra loss term at all)."""
    if not l1 and not l2:
        return None
    return tf.keras.regularizers.L1L2(l1=l1, l2=l2)


def apply_normalization(x, enabled: bool, name: str):
    """Batch normalization over the last axis when `enabled`; the identity otherwise."""
    return layers.BatchNormalization(name=name)(x) if enabled else x


def apply_dropout(x, rate: float, name: str):
    return layers.Dropout(rate, name=name)(x) if rate > 0 else x


def layer_kwargs(cfg, seed: Optional[int] = None) -> dict:
    """``kernel_initializer`` and ``kernel_regularizer`` for a Dense/Conv/RNN layer from `cfg`."""
    return {"kernel_initializer": kernel_initializer(cfg.initializer, seed),
            "kernel_regularizer": kernel_regularizer(cfg.l1, cfg.l2)}


def configured_cures(cfg, early_stopping: bool = True) -> list:
    """The overfitting cures `cfg` switches on, in words (for the overfitting diagnostic)."""
    cures = []
    if getattr(cfg, "dropout", 0) > 0:
        cures.append(f"dropout {cfg.dropout}")
    if getattr(cfg, "l2", 0) > 0:
        cures.append(f"L2 {cfg.l2}")
    if getattr(cfg, "l1", 0) > 0:
        cures.append(f"L1 {cfg.l1}")
    if getattr(cfg, "batch_norm", False):
        cures.append("batch norm")
    if early_stopping:
        cures.append("early stopping")
    return cures
