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

With ``scales`` L > 1 the neck is a feature pyramid (FPN, as in YOLOv3): the deepest features go through
the neck conv and a head at stride 2**blocks; for each finer level, the level above is reduced by a 1x1
conv, upsampled x2 (nearest neighbour) and concatenated with the backbone's features at that stride,
then a 3x3 conv feeds that level's head. The model then has L outputs ``raw_grid_0`` (finest, stride
2**(blocks - L + 1)) ... ``raw_grid_{L-1}`` (stride 2**blocks), each (B, S_l, S_l, A, 5 + C) with its own
anchors (the smallest on the finest grid). Nearest upsampling and concatenation are on the Edge TPU list.
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


def apply_backbone_levels(x, blocks: int, filters: int, name: str = "backbone"):
    """(B, H, W, C) -> every block's output, finest first: block b (from 1) gives
    (B, H / 2**b, W / 2**b, filters * 2**(b - 1))."""
    levels = []
    for b in range(blocks):
        x = apply_conv_bn(x, filters * 2 ** b, 3, name=f"{name}{b + 1}")
        x = layers.MaxPooling2D(2, name=f"{name}{b + 1}_pool")(x)
        levels.append(x)
    return levels


def apply_backbone(x, blocks: int, filters: int, name: str = "backbone"):
    """(B, H, W, C) -> (B, H / 2**blocks, W / 2**blocks, filters * 2**(blocks - 1))."""
    return apply_backbone_levels(x, blocks, filters, name)[-1]


def apply_grid_head(x, num_anchors: int, num_classes: int, name: str = "head", output_name: str = "raw_grid"):
    """(B, S, S, F) -> (B, S, S, A, 5 + C) raw predictions; objectness biased to OBJECTNESS_PRIOR."""
    depth = 5 + num_classes
    bias = np.zeros((num_anchors, depth), np.float32)
    bias[:, 4] = np.log(OBJECTNESS_PRIOR / (1 - OBJECTNESS_PRIOR))
    x = layers.Conv2D(num_anchors * depth, 1, name=f"{name}_conv",
                      bias_initializer=keras.initializers.Constant(bias.reshape(-1)))(x)
    grid = x.shape[1]
    return layers.Reshape((grid, grid, num_anchors, depth), name=output_name)(x)


def apply_pyramid(features, scales: int, filters: int):
    """Backbone features, finest first (stride 2, 4, ..., 2**blocks) -> the `scales` pyramid levels the
    heads read, finest first: the deepest through the neck conv, each finer one from the level above
    (1x1 conv, nearest x2 upsampling) concatenated with the backbone at that stride, then a 3x3 conv."""
    blocks = len(features)
    levels = [apply_conv_bn(features[-1], filters * 2 ** blocks, 3, name="neck")]
    for step in range(1, scales):
        b = blocks - step  # the backbone block whose output has this level's stride
        up = apply_conv_bn(levels[0], filters * 2 ** (b - 1), 1, name=f"fpn{b}_reduce")
        up = layers.UpSampling2D(2, interpolation="nearest", name=f"fpn{b}_up")(up)
        x = layers.Concatenate(name=f"fpn{b}_concat")([up, features[b - 1]])
        levels.insert(0, apply_conv_bn(x, filters * 2 ** b, 3, name=f"fpn{b}"))
    return levels


def build_yolo(input_shape: Tuple[int, int, int], num_classes: int, num_anchors: int,
               blocks: int, filters: int, scales: int = 1) -> keras.Model:
    """The detector; its input is named ``image`` ((B, H, W, C) float32 in [0, 1]). One output
    ``raw_grid`` when `scales` is 1, else `scales` outputs ``raw_grid_0`` (finest) ... (module docstring)."""
    if not 1 <= scales <= blocks:
        raise ValueError(f"scales must be between 1 and blocks ({blocks}), got {scales}")
    inputs = keras.Input(shape=input_shape, name="image")
    if scales == 1:
        x = apply_backbone(inputs, blocks, filters)
        x = apply_conv_bn(x, filters * 2 ** blocks, 3, name="neck")
        return keras.Model(inputs, apply_grid_head(x, num_anchors, num_classes), name="yolo")
    features = apply_backbone_levels(inputs, blocks, filters)
    outputs = [apply_grid_head(level, num_anchors, num_classes, name=f"head{i}", output_name=f"raw_grid_{i}")
               for i, level in enumerate(apply_pyramid(features, scales, filters))]
    return keras.Model(inputs, outputs, name="yolo_fpn")
