"""A Keras Functional-API convolutional classifier, built from :class:`ModelConfig`'s controls.

``center`` (the default) first subtracts each image's own mean colour: (B,H,W,C) - mean over
(H,W) -> (B,H,W,C), so the first conv sees shapes and contrasts, not the background's colour.
It is two operations in the graph (MEAN, SUB), both on the Edge TPU's list, and it is in the
exported model, so serving and .tflite inputs are unchanged.
``blocks`` x [conv -> (bn) -> act -> conv -> (bn) -> act -> pool], each block doubling the
filters, then flatten (or global average) -> dropout -> softmax. Shapes for the defaults
(16x16x1, 2 blocks, 32 filters): (B,16,16,1) -> block1 (B,8,8,32) -> block2 (B,4,4,64)
-> flatten (B,1024) | global_average (B,64) -> (B,num_classes).
"""
from __future__ import annotations

from typing import Tuple

import tensorflow as tf

from edgeflow.models.controls import (apply_activation, apply_dropout, apply_normalization,
                                      layer_kwargs)
from edgeflow.config import ModelConfig

keras = tf.keras
layers = tf.keras.layers


def apply_conv_block(x, filters: int, cfg: ModelConfig, name: str, seed=None):
    """(B, H, W, C) -> (B, H/2, W/2, filters)."""
    for i in (1, 2):
        x = layers.Conv2D(filters, cfg.kernel_size, padding="same", use_bias=not cfg.batch_norm,
                          name=f"{name}_conv{i}", **layer_kwargs(cfg, seed))(x)
        x = apply_normalization(x, cfg.batch_norm, name=f"{name}_bn{i}")
        x = apply_activation(x, cfg.activation, name=f"{name}_act{i}", alpha=cfg.leaky_alpha)
    pool = layers.MaxPooling2D if cfg.pooling == "max" else layers.AveragePooling2D
    return pool(2, name=f"{name}_pool")(x)


def apply_head(x, num_classes: int, cfg: ModelConfig, seed=None):
    """(B, H, W, C) -> (B, num_classes) probabilities."""
    if cfg.head == "global_average":
        x = layers.GlobalAveragePooling2D(name="global_average")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    x = apply_dropout(x, cfg.dropout, name="dropout")
    return layers.Dense(num_classes, activation="softmax", name="probabilities", **layer_kwargs(cfg, seed))(x)


def apply_centering(x):
    """(B, H, W, C) -> (B, H, W, C) minus each image's mean over (H, W), per channel."""
    mean = layers.GlobalAveragePooling2D(keepdims=True, name="mean_colour")(x)
    return layers.Subtract(name="centered")([x, mean])


def build_cnn(input_shape: Tuple[int, int, int], num_classes: int, cfg: ModelConfig, seed=None) -> keras.Model:
    """The classifier; its input is named ``image`` (the Transform output it is fed)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = apply_centering(inputs) if cfg.center else inputs
    for b in range(cfg.blocks):
        x = apply_conv_block(x, cfg.filters * 2**b, cfg, name=f"block{b + 1}", seed=seed)
    return keras.Model(inputs, apply_head(x, num_classes, cfg, seed), name="cnn")


def build_classifier(input_shape: Tuple[int, int, int], num_classes: int, cfg: ModelConfig, seed=None) -> keras.Model:
    """``model.backbone``: the cnn above, or a keras.applications backbone (models/image/backbone.py)."""
    if cfg.backbone == "cnn":
        return build_cnn(input_shape, num_classes, cfg, seed)
    from edgeflow.models.image.backbone import build_backbone_classifier

    return build_backbone_classifier(input_shape, num_classes, cfg, seed)
