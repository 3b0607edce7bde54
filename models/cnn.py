"""A Keras Functional-API convolutional classifier.

``blocks`` x [conv -> act -> conv -> act -> max-pool], each block doubling the filters,
then flatten -> dropout -> softmax. Shapes for the defaults (16x16x1, 2 blocks, 32 filters):
(B,16,16,1) -> block1 (B,8,8,32) -> block2 (B,4,4,64) -> (B,1024) -> (B,num_classes).
"""
from __future__ import annotations

from typing import Tuple

import tensorflow as tf

from edgeflow.pipelines.config import ModelConfig

keras = tf.keras
layers = tf.keras.layers


def apply_activation(x, activation: str, name: str):
    if activation == "leaky_relu":
        return layers.LeakyReLU(alpha=0.1, name=name)(x)
    return layers.Activation(activation, name=name)(x)


def apply_conv_block(x, filters: int, kernel_size: int, activation: str, name: str):
    """(B, H, W, C) -> (B, H/2, W/2, filters)."""
    for i in (1, 2):
        x = layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer="he_normal",
                          name=f"{name}_conv{i}")(x)
        x = apply_activation(x, activation, name=f"{name}_act{i}")
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def build_cnn(input_shape: Tuple[int, int, int], num_classes: int, cfg: ModelConfig) -> keras.Model:
    """The classifier; its input is named ``image`` (the Transform output it is fed)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for b in range(cfg.blocks):
        x = apply_conv_block(x, cfg.filters * 2**b, cfg.kernel_size, cfg.activation, name=f"block{b + 1}")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")
