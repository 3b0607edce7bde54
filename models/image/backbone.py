"""Transfer learning: a keras.applications backbone that runs on devices, under a new softmax head.

``model.backbone`` names the network (:data:`APPLICATIONS`), ``model.weights`` its start: ``imagenet``
(Keras downloads the weights into ``~/.keras/models`` on first use), a local weights file (.h5, saved
from the same backbone without its top), or null (random). Shapes for a 32x32x1 input:

    image (B,32,32,1) [0, 1] -> to_rgb (B,32,32,3) -> backbone_preprocess (B,32,32,3) [-1, 1]
      -> backbone (B,1,1,F) -> global_average (B,F) -> dropout -> probabilities (B,num_classes)

The input stays what the cnn takes (the Transform graph's decoded images in [0, 1], 1 or 3 channels),
so the serving signatures and every .tflite keep their inputs; the backbone's own preprocessing
(MobileNet's scaling to [-1, 1]) and grayscale -> RGB are layers of the model. The backbone's layers
are the model's own (one flat Functional graph, which TFMOT's quantization-aware training takes).

Training a pretrained backbone takes two stages (models/training/skeleton.py): :func:`freeze_backbone`
before the first, :func:`unfreeze_top` before the second.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Tuple

import tensorflow as tf

from edgeflow import EdgeflowError
from edgeflow.config import BACKBONE_MIN_SIZE, ModelConfig
from edgeflow.models.image.model import apply_head

keras = tf.keras
layers = tf.keras.layers

APPLICATIONS = {"mobilenet_v2": "MobileNetV2", "mobilenet_v3_small": "MobileNetV3Small"}
HEAD_LAYERS = ("image", "to_rgb", "backbone_preprocess", "global_average", "dropout", "probabilities")


def offline_message(backbone: str) -> str:
    return (f"model.weights=imagenet needs the ImageNet weights of {backbone}, which Keras downloads on first use, "
            "and they could not be downloaded here (no network?); give a local weights file "
            "(model.weights=path/to/weights.h5) or train from a random start (model.weights=null)")


def _application(backbone: str, x, size: int, weights):
    """(B, size, size, 3) in [-1, 1] -> the application's Functional model from the source input of `x`."""
    make = getattr(keras.applications, APPLICATIONS[backbone])
    kwargs = {"include_preprocessing": False} if backbone.startswith("mobilenet_v3") else {}
    return make(input_shape=(size, size, 3), input_tensor=x, include_top=False, weights=weights, **kwargs)


def load_application(backbone: str, x, size: int, weights):
    """:func:`_application`, with a failed download or an unreadable weights file as one sentence."""
    if weights not in (None, "imagenet") and not Path(weights).expanduser().is_file():
        raise EdgeflowError(f"model.weights file {weights} does not exist; give the path of a weights file (.h5) "
                            f"saved from the {backbone} backbone, or imagenet, or null")
    try:
        return _application(backbone, x, size, None if weights is None else
                            weights if weights == "imagenet" else str(Path(weights).expanduser()))
    except EdgeflowError:
        raise
    except Exception as err:  # noqa: BLE001 - Keras raises a bare Exception for a failed download
        if weights == "imagenet":
            raise EdgeflowError(offline_message(backbone)) from None
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise EdgeflowError(f"model.weights file {weights} does not fit the {backbone} backbone ({reason}); give a "
                            f"weights file saved from keras.applications' {APPLICATIONS[backbone]} with "
                            "include_top=False, or imagenet, or null") from None


def build_backbone_classifier(input_shape: Tuple[int, int, int], num_classes: int, cfg: ModelConfig,
                              seed=None) -> keras.Model:
    """The backbone under a new head; its input is named ``image``, as the cnn's is."""
    size, _, channels = input_shape
    if size < BACKBONE_MIN_SIZE:
        raise EdgeflowError(f"image.size is {size}, smaller than the {BACKBONE_MIN_SIZE} px the {cfg.backbone} "
                            f"backbone needs; set image.size={BACKBONE_MIN_SIZE} or more")
    inputs = keras.Input(shape=input_shape, name="image")  # (B, S, S, C) in [0, 1]
    x = layers.Concatenate(name="to_rgb")([inputs] * 3) if channels == 1 else inputs  # (B, S, S, 3)
    x = layers.Rescaling(2.0, offset=-1.0, name="backbone_preprocess")(x)  # MobileNet's [-1, 1]
    features = load_application(cfg.backbone, x, size, cfg.weights).output  # (B, S/32, S/32, F)
    outputs = apply_head(features, num_classes, replace(cfg, head="global_average"), seed)
    return keras.Model(inputs, outputs, name=cfg.backbone)


def backbone_layers(model: keras.Model) -> list:
    """The backbone's layers of a :func:`build_backbone_classifier` model, input side first."""
    return [layer for layer in model.layers
            if layer.name not in HEAD_LAYERS and not isinstance(layer, layers.InputLayer)]


def freeze_backbone(model: keras.Model) -> int:
    """Stage one: every backbone layer frozen (the head trains); returns how many."""
    frozen = backbone_layers(model)
    for layer in frozen:
        layer.trainable = False
    return len(frozen)


def unfreeze_top(model: keras.Model, count: int) -> int:
    """Stage two: the last `count` backbone layers trainable, except batch norm layers, which stay
    frozen (and so in inference mode), as Keras' transfer-learning guide does; returns how many layers
    with weights were unfrozen."""
    unfrozen = 0
    for layer in backbone_layers(model)[-count:] if count else []:
        if isinstance(layer, layers.BatchNormalization):
            continue
        layer.trainable = True
        unfrozen += bool(layer.weights)
    return unfrozen


def check_weights(cfg: ModelConfig, size: int, channels: int) -> None:
    """Before a run starts: builds the backbone once, so ``imagenet`` is fetched into Keras' cache (or a
    failed download is one sentence) and a weights file is read, before any pipeline step runs."""
    if cfg.backbone == "cnn" or cfg.weights is None:
        return
    build_backbone_classifier((size, size, channels), 2, cfg)
    keras.backend.clear_session()
