"""Training-only image augmentation: Keras preprocessing layers mapped over the fit batches.

The layers run in the tf.data pipeline that feeds ``model.fit`` (the fit split only, never the
validation hold-out), so the model itself, and with it the exported SavedModel and every .tflite,
has no augmentation in it: serving the same image twice gives the same answer.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from edgeflow.config import AugmentConfig

layers = tf.keras.layers


def build_augmenter(cfg: AugmentConfig, seed: Optional[int] = None) -> Optional[tf.keras.Sequential]:
    """(B, H, W, C) -> (B, H, W, C) random flips, rotations, zooms, shifts and contrast, as `cfg`
    switches them on; None when augmentation is off or every change is zero."""
    if not cfg.enabled:
        return None
    steps = []
    if cfg.flip != "none":
        steps.append(layers.RandomFlip(cfg.flip, seed=seed, name="flip"))
    if cfg.rotation:
        steps.append(layers.RandomRotation(cfg.rotation, fill_mode="reflect", seed=seed, name="rotation"))
    if cfg.zoom:
        steps.append(layers.RandomZoom(cfg.zoom, fill_mode="reflect", seed=seed, name="zoom"))
    if cfg.translation:
        steps.append(layers.RandomTranslation(cfg.translation, cfg.translation, fill_mode="reflect", seed=seed,
                                              name="translation"))
    if cfg.contrast:
        steps.append(layers.RandomContrast(cfg.contrast, seed=seed, name="contrast"))
    return tf.keras.Sequential(steps, name="augment") if steps else None


def augment_dataset(dataset: tf.data.Dataset, augmenter: Optional[tf.keras.Sequential]) -> tf.data.Dataset:
    """Batched ``(images (B, H, W, C), labels (B,))`` -> the same with the images augmented, values
    kept in [0, 1]; `dataset` itself when `augmenter` is None."""
    if augmenter is None:
        return dataset

    def apply(images, labels):
        return tf.clip_by_value(augmenter(images, training=True), 0.0, 1.0), labels

    return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE)


def describe(cfg: AugmentConfig) -> str:
    """One line for the log: what the fit batches get."""
    if not cfg.enabled:
        return "augmentation: off"
    parts = [f"flip {cfg.flip}"] if cfg.flip != "none" else []
    parts += [f"{name} {getattr(cfg, name)}" for name in ("rotation", "zoom", "translation", "contrast")
              if getattr(cfg, name)]
    return "augmentation (training only): " + (", ".join(parts) or "nothing switched on")
