"""A YOLO-style single-shot detector (Keras Functional API).

The image goes through ``blocks`` x [conv 3x3 -> BN -> ReLU -> max-pool], each block
doubling the filters, then a 3x3 neck conv and a 1x1 head that predicts, for every grid
cell and anchor, ``(tx, ty, tw, th, to, class logits...)``. Shapes for the defaults
(64x64x1, 3 blocks, 16 filters, 3 anchors, 10 classes):
(B,64,64,1) -> (B,32,32,16) -> (B,16,16,32) -> (B,8,8,64) -> neck (B,8,8,128)
-> head (B,8,8,3*15) -> reshape (B, S=8, S=8, A=3, 5 + C=15).

How the raw outputs become boxes (see ``yolo_postprocess`` and ``edge.detection``):
centre = (cell + sigmoid(tx, ty)) / S, size = anchor * exp(tw, th), objectness = sigmoid(to),
class probabilities = softmax(logits). ReLU, BN and max-pool keep the graph Edge TPU friendly.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import tensorflow as tf

keras = tf.keras
layers = tf.keras.layers
OBJECTNESS_PRIOR = 0.01  # initial objectness: most cells hold no object
BN_MOMENTUM = 0.9  # small data sets run few steps per epoch; 0.99 leaves eval statistics stale


def apply_conv_bn(x, filters: int, kernel_size: int, name: str):
    """(B, H, W, C) -> (B, H, W, filters): conv (no bias) -> batch norm -> ReLU."""
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, kernel_initializer="he_normal",
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def apply_backbone(x, blocks: int, filters: int, name: str = "backbone"):
    """(B, H, W, C) -> (B, H / 2**blocks, W / 2**blocks, filters * 2**(blocks - 1))."""
    for b in range(blocks):
        x = apply_conv_bn(x, filters * 2 ** b, 3, name=f"{name}{b + 1}")
        x = layers.MaxPooling2D(2, name=f"{name}{b + 1}_pool")(x)
    return x


def apply_grid_head(x, num_anchors: int, num_classes: int, name: str = "head"):
    """(B, S, S, F) -> (B, S, S, A, 5 + C) raw predictions; objectness biased to OBJECTNESS_PRIOR."""
    depth = 5 + num_classes
    bias = np.zeros((num_anchors, depth), np.float32)
    bias[:, 4] = np.log(OBJECTNESS_PRIOR / (1 - OBJECTNESS_PRIOR))
    x = layers.Conv2D(num_anchors * depth, 1, name=f"{name}_conv",
                      bias_initializer=keras.initializers.Constant(bias.reshape(-1)))(x)
    grid = x.shape[1]
    return layers.Reshape((grid, grid, num_anchors, depth), name="raw_grid")(x)


def build_yolo(input_shape: Tuple[int, int, int], num_classes: int, num_anchors: int,
               blocks: int, filters: int) -> keras.Model:
    """The detector; its input is named ``image`` ((B, H, W, C) float32 in [0, 1])."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = apply_backbone(inputs, blocks, filters)
    x = apply_conv_bn(x, filters * 2 ** blocks, 3, name="neck")
    outputs = apply_grid_head(x, num_anchors, num_classes)
    return keras.Model(inputs, outputs, name="yolo")
