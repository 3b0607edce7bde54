"""Config sections of the image pipeline: input images, the CNN, the shallow baseline, tuning."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from edgeflow.config.base import check
from edgeflow.config.shared import check_model_controls

POOLINGS = ("max", "average")  # downsampling inside a block
HEADS = ("flatten", "global_average")  # how the last feature map becomes a vector
BACKBONES = ("cnn", "mobilenet_v2", "mobilenet_v3_small")  # cnn: built here; the others: keras.applications
BACKBONE_MIN_SIZE = 32  # px: the smallest input the keras.applications MobileNets take
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")


@dataclass(frozen=True)
class ImageConfig:
    """Image pipeline inputs: images are decoded and resized inside the graph.

    ``size`` and ``channels`` left ``null`` are read from the data before the run starts
    (components/image/shape.py): RGB when the images carry colour, the size from their median
    side, at most ``max_auto_size``. A value set here, by a preset or with ``--set`` always wins."""

    size: Optional[int] = None  # images are resized to (size, size); null = from the images' median side
    channels: Optional[int] = None  # 1 = grayscale, 3 = RGB; null = 3 when the images carry colour, else 1
    # The largest size the data may choose (an explicit size is not bounded by it): the default CNN,
    # trained from scratch, learns 40 px inputs far more slowly per epoch than 24-32 px ones.
    max_auto_size: int = 32
    limit_per_class: Optional[int] = None  # bundled digits only: keep this many per class

    def __post_init__(self):
        check(self.size is None or 4 <= self.size <= 512, "size", "must be between 4 and 512 (or null: from the data)")
        check(16 <= self.max_auto_size <= 512, "max_auto_size",
              "must be between 16 and 512 (the largest image.size the data may choose)")
        check(self.channels in (None, 1, 3), "channels", "must be 1 (grayscale) or 3 (RGB), or null (from the data)")
        check(self.limit_per_class is None or self.limit_per_class >= 2,
               "limit_per_class", "must be at least 2 (or null for all)")

@dataclass(frozen=True)
class AugmentConfig:
    """Random image changes applied to the fit batches in training only (models/image/augment.py);
    the exported serving graph never has them. The defaults suit photos; where a flip changes
    the class (digits, text, arrows) set ``flip: none``."""

    enabled: Optional[bool] = None  # null = on for a folder given with data.path, off for the bundled digits
    flip: str = "horizontal"  # none | horizontal | vertical | horizontal_and_vertical
    rotation: float = 0.05  # up to this fraction of a full turn either way (0.05 = 18 degrees); 0 = off
    zoom: float = 0.1  # zoom in or out by up to this fraction; 0 = off
    translation: float = 0.1  # shift by up to this fraction of the height and width; 0 = off
    contrast: float = 0.1  # scale the contrast by a factor in [1 - contrast, 1 + contrast]; 0 = off

    def __post_init__(self):
        check(self.flip in FLIPS, "flip", f"must be one of {', '.join(FLIPS)}")
        for name in ("rotation", "zoom", "translation", "contrast"):
            check(0.0 <= getattr(self, name) < 1.0, name, "must be in [0, 1) (0 turns it off)")

@dataclass(frozen=True)
class ModelConfig:
    """A convolutional classifier: ``blocks`` x (conv, [bn], act, conv, [bn], act, pool), then a softmax head.

    Depth is ``blocks``, width is ``filters``; the controls (activation ... batch_norm) are the
    ones every architecture shares (see models/controls.py).

    ``backbone`` other than ``cnn`` replaces the blocks with a keras.applications network
    (models/image/backbone.py) and a new head (global average, ``dropout``, softmax); the cnn's
    fields (blocks ... head) then shape nothing. ``weights``: ``imagenet`` (Keras downloads them on
    first use, where the network allows), the path of a weights file (.h5) saved from the same
    backbone, or null (random start). Pretrained weights train in two stages (train.fine_tune_*)."""

    backbone: str = "cnn"  # cnn | mobilenet_v2 | mobilenet_v3_small
    weights: Optional[str] = "imagenet"  # a backbone's start: imagenet | a weights file path | null (random)
    blocks: int = 2
    filters: int = 32  # filters of the first block; each later block doubles them
    kernel_size: int = 3
    activation: str = "relu"
    leaky_alpha: float = 0.1  # negative slope of leaky_relu; the starting slope of prelu (learned per channel)
    initializer: str = "he_normal"
    l1: float = 0.0  # weight penalties on every conv/dense kernel
    l2: float = 0.0
    dropout: float = 0.25  # before the softmax layer
    batch_norm: bool = False  # after every conv, before its activation
    pooling: str = "max"  # max | average: how each block halves the feature map
    head: str = "flatten"  # flatten | global_average: how the last feature map becomes a vector
    # Subtract each image's mean colour (per channel) before the first conv. Without it the CNN,
    # trained from scratch on photos with coloured backgrounds, often starts by fitting the
    # background colour and stays at the uniform answer (BENCHMARKS.md, "cnn_start").
    center: bool = True

    def __post_init__(self):
        check(1 <= self.blocks <= 6, "blocks", "must be between 1 and 6")
        check(self.filters >= 1, "filters", "must be at least 1")
        check(self.kernel_size in (1, 3, 5, 7), "kernel_size", "must be 1, 3, 5 or 7")
        check_model_controls(self)
        check(self.pooling in POOLINGS, "pooling", f"must be one of {', '.join(POOLINGS)}")
        check(self.head in HEADS, "head", f"must be one of {', '.join(HEADS)}")
        check(self.backbone in BACKBONES, "backbone", f"must be one of {', '.join(BACKBONES)}")
        check(self.backbone != "cnn" or self.weights in (None, "imagenet"), "weights",
              "is a weights file, which only a backbone reads (model.backbone=mobilenet_v2 or mobilenet_v3_small); "
              "the cnn trains from scratch: set model.weights=null")

@dataclass(frozen=True)
class BaselineConfig:
    """The shallow baseline (logistic regression on the transformed features) the CNN must beat."""

    enabled: bool = True
    min_lift: Optional[float] = None  # bless only when CNN accuracy - baseline accuracy >= this
    # It fits on a seeded sample of at most this many train examples (0: all of them) and scores
    # the whole eval split as a stream, so its memory does not grow with the data.
    max_examples: int = 20000

    def __post_init__(self):
        check(self.max_examples >= 0, "max_examples", "must be 0 (the whole train split) or a positive count")
        check(self.min_lift is None or -1.0 <= self.min_lift <= 1.0, "min_lift",
               "must be in [-1, 1] (or null for no lift requirement)")

@dataclass(frozen=True)
class TuningConfig:
    """KerasTuner random search over the model controls (models/image/tuner.py), before the Trainer."""

    enabled: bool = False
    trials: int = 4
    epochs: int = 3  # per trial

    def __post_init__(self):
        check(self.trials >= 1, "trials", "must be at least 1")
        check(self.epochs >= 1, "epochs", "must be at least 1")
