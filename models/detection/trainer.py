"""The TFX Trainer's run_fn for the detection pipeline: train the YOLO model, export for serving.

The exported SavedModel has two signatures, both fed encoded PNG/JPEG bytes (``image_bytes``, (B,)):

* ``serving_default`` -> ``boxes`` (B, D, 4) x0, y0, x1, y1 fractions of the image, ``scores`` (B, D),
  ``classes`` (B, D), ``class_names`` (B, D), ``num_detections`` (B,); D = detection.max_detections,
  rows past num_detections are padding. Decoding and class-aware NMS run inside the graph.
* ``serving_raw`` -> ``raw_grid`` (B, S, S, A, 5 + C), for the evaluator and device runtimes, which
  post-process in NumPy (``edgeflow.edge.detection``) with ``assets.extra/detection.json``; a
  feature-pyramid model (``detection.scales`` > 1) gives ``raw_grid_0`` (finest) ... instead, one per scale.

The (small) training split is held in memory; every epoch re-draws the box-aware augmentation
(models/detection/augment.py: mosaic, zoom/shift/flip, HSV).
"""
from __future__ import annotations

import json
import logging
import math
import os

import numpy as np
import tensorflow as tf
from tfx import v1 as tfx

from edgeflow.config import DetectionConfig, DiagnosticsConfig, TrainConfig, from_dict
from edgeflow.models.detection import postprocess as yolo_postprocess
from edgeflow.models.detection.examples import DetectionSet, decode_images, read_detection_examples
from edgeflow.models.detection.loss import BOX_CODING, YoloLoss
from edgeflow.models.detection.model import build_yolo
from edgeflow.models.detection.augment import augment, hsv_jitter, mosaic
from edgeflow.models.detection.targets import encode_scales, kmeans_anchors
from edgeflow.models.image.transform import decode_images as decode_graph
from edgeflow.models.training.bare_model import KERAS_DIR
from edgeflow.models.training.skeleton import TrainingTask, train
from edgeflow.models.training.validation import split_indices

keras = tf.keras
log = logging.getLogger("edgeflow.train")
META_FILE = os.path.join("assets.extra", "detection.json")


class DetectionBatches(keras.utils.Sequence):
    """Batches of (images (b, H, W, C), targets (b, S, S, A, 5 + C)), the targets a tuple of one per scale
    (finest first) for a feature-pyramid model; shuffled and augmented when `training`. anchors (L, A, 2)."""

    def __init__(self, images: np.ndarray, data: DetectionSet, anchors: np.ndarray, num_classes: int,
                 cfg: DetectionConfig, batch_size: int, seed: int, training: bool):
        super().__init__()
        self.images, self.data, self.anchors, self.num_classes = images, data, anchors, num_classes
        self.cfg, self.batch_size, self.training = cfg, batch_size, training
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(images))
        if training:
            self.rng.shuffle(self.order)

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def _image(self, j):
        """Image j and its boxes and classes; in training, with probability augment_mosaic, a mosaic of
        it and three others drawn at random, in random quadrants."""
        if not (self.training and self.cfg.augment_mosaic and self.rng.random() < self.cfg.augment_mosaic):
            return self.images[j], self.data.boxes[j], self.data.classes[j]
        picks = self.rng.permutation([j, *self.rng.integers(len(self.images), size=3)])
        return mosaic([self.images[k] for k in picks], [self.data.boxes[k] for k in picks],
                      [self.data.classes[k] for k in picks], self.rng)

    def __getitem__(self, i):
        xs, ys = [], []
        for j in self.order[i * self.batch_size:(i + 1) * self.batch_size]:
            image, boxes, classes = self._image(j)
            if self.training:
                image, boxes, keep = augment(image, boxes, self.rng, self.cfg.augment_flip, self.cfg.augment_scale,
                                             self.cfg.augment_translate)
                boxes, classes = boxes[keep], classes[keep]
            xs.append(image)
            ys.append(encode_scales(boxes, classes, self.anchors, self.cfg.grids, self.num_classes,
                                    self.cfg.anchor_t, self.cfg.neighbour_cells))
        xs = np.stack(xs)
        if self.training and any(self.cfg.augment_hsv):
            xs = hsv_jitter(xs, self.rng, self.cfg.augment_hsv)
        ys = tuple(np.stack(scale) for scale in zip(*ys))
        return xs, ys[0] if len(ys) == 1 else ys

    def on_epoch_end(self):
        if self.training:
            self.rng.shuffle(self.order)


def choose_anchors(cfg: DetectionConfig, data: DetectionSet, seed: int) -> np.ndarray:
    """(L, A, 2) anchor shapes per scale: from the config, or k-means on the training boxes (L * A clusters
    by area, the smallest A to the finest grid)."""
    if cfg.anchors:
        return np.asarray(cfg.anchors, np.float32).reshape(cfg.scales, -1, 2)
    wh = np.concatenate([b[:, 2:4] for b in data.boxes if len(b)])
    return kmeans_anchors(wh, cfg.num_anchors * cfg.scales, seed).reshape(cfg.scales, cfg.num_anchors, 2)


def meta_anchors(anchors: np.ndarray) -> list:
    """(L, A, 2) -> the model info's anchors: (A, 2) for one scale (as before pyramids), else (L, A, 2)."""
    return (anchors[0] if len(anchors) == 1 else anchors).tolist()


def export_signatures(model, cfg: DetectionConfig, anchors: np.ndarray, class_names):
    names = tf.constant(list(class_names))

    def raw_grid(image_bytes):
        return model(decode_graph(image_bytes, cfg.image_size, cfg.channels), training=False)

    def raw_outputs(image_bytes):
        grids = raw_grid(image_bytes)
        return ({"raw_grid": grids} if cfg.scales == 1 else {f"raw_grid_{i}": g for i, g in enumerate(grids)})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_images(image_bytes):
        out = yolo_postprocess.detect(raw_grid(image_bytes), anchors, cfg.score_threshold, cfg.iou_threshold,
                                      cfg.max_detections)
        return {**out, "class_names": tf.gather(names, out["classes"])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_raw(image_bytes):
        return raw_outputs(image_bytes)

    return {"serving_default": serve_images, "serving_raw": serve_raw}


def write_meta(model_dir: str, cfg: DetectionConfig, anchors: np.ndarray, class_names, name: str = META_FILE) -> None:
    """What a runtime needs beside the raw grid(s): anchors, grids (finest first), class names, input size,
    thresholds. anchors (L, A, 2)."""
    meta = {"anchors": meta_anchors(anchors), "class_names": list(class_names), "image_size": cfg.image_size,
            "channels": cfg.channels, "grid": cfg.grid, "grids": list(cfg.grids), "score_threshold": cfg.score_threshold,
            "iou_threshold": cfg.iou_threshold, "max_detections": cfg.max_detections, "box_coding": BOX_CODING}
    path = os.path.join(model_dir, name)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(meta, f, indent=1)


class DetectionTask(TrainingTask):
    """The YOLO detector's hooks for the training skeleton (models/training/skeleton.py).

    `train_split`: the whole train split (the eval split is the Evaluator's alone); the skeleton's
    validation hold-out comes out of it, and the anchors from the fitted part.
    """

    name = "detection"

    def __init__(self, cfg: DetectionConfig, train_split: DetectionSet, class_names):
        self.cfg, self.train_split, self.class_names = cfg, train_split, list(class_names)

    def datasets(self, train: TrainConfig):
        fit_set, validation_set = (self.train_split.subset(i)
                                   for i in split_indices(len(self.train_split), train.validation_fraction))
        self.fit_set, self.anchors = fit_set, choose_anchors(self.cfg, fit_set, train.seed)
        log.info("  anchors (w, h as fractions of the image, per scale from the finest): %s",
                 np.round(self.anchors, 3).tolist())
        return self._batches(fit_set, train, True), self._batches(validation_set, train, False)

    def _batches(self, data: DetectionSet, train: TrainConfig, training: bool, batch_size: int = 0):
        images = decode_images(data.encoded, self.cfg.image_size, self.cfg.channels)
        return DetectionBatches(images, data, self.anchors, len(self.class_names), self.cfg,
                                batch_size or train.batch_size, train.seed, training)

    def probe(self, fit, size):
        # Un-augmented fitted images, so the probe neither changes nor draws from the training's random stream.
        return DetectionBatches(fit.images[:size], fit.data.subset(range(min(size, len(fit.images)))), self.anchors,
                                len(self.class_names), self.cfg, size, 0, training=False)[0]

    def build_model(self):
        cfg = self.cfg
        return build_yolo((cfg.image_size, cfg.image_size, cfg.channels), len(self.class_names), cfg.num_anchors,
                          cfg.blocks, cfg.filters, cfg.scales)

    def compile(self, model, optimizer):
        cfg = self.cfg
        balance = cfg.obj_balance or (1.0,) * cfg.scales
        losses = [YoloLoss(a, cfg.lambda_coord, cfg.lambda_noobj, cfg.box_loss, cfg.label_smoothing, b)
                  for a, b in zip(self.anchors, balance)]
        if len(losses) == 1:  # box/obj/cls_loss per epoch
            model.compile(optimizer=optimizer, loss=losses[0], metrics=losses[0].part_metrics())
        else:  # raw_grid_0_box_loss, ... per scale and epoch; Keras sums the scales' losses
            model.compile(optimizer=optimizer, loss=losses,
                          metrics={f"raw_grid_{i}": loss.part_metrics() for i, loss in enumerate(losses)})

    def describe(self, model, train):
        cfg = self.cfg
        grids = ", ".join(f"{g}x{g}" for g in cfg.grids)
        return (f"training {model.name}: {model.count_params()} parameters, {grids} grid, "
                f"{cfg.num_anchors} anchors per grid, up to {train.epochs} epochs on {len(self.fit_set)} images")

    def cures(self):
        cfg = self.cfg
        augmented = [name for name, on in (("flip", cfg.augment_flip), ("scale", cfg.augment_scale),
                                           ("translate", cfg.augment_translate), ("mosaic", cfg.augment_mosaic),
                                           ("HSV", any(cfg.augment_hsv))) if on]
        return ([f"augmentation ({', '.join(augmented)})"] if augmented else []) + ["early stopping"]

    def export(self, model, fn_args):
        model.save(fn_args.serving_model_dir, save_format="tf",
                   signatures=export_signatures(model, self.cfg, self.anchors, self.class_names))
        write_meta(fn_args.serving_model_dir, self.cfg, self.anchors, self.class_names)
        # For EdgeExport: post-processing settings beside the bare Keras model (image in, raw grid out).
        write_meta(os.path.join(fn_args.model_run_dir, KERAS_DIR), self.cfg, self.anchors, self.class_names,
                   os.path.basename(META_FILE))


def run_fn(fn_args: tfx.components.FnArgs):
    cc = fn_args.custom_config
    task = DetectionTask(from_dict(DetectionConfig, cc["detection"]), read_detection_examples(fn_args.train_files),
                         cc["class_names"])
    train(task, fn_args, from_dict(TrainConfig, cc["train"]), from_dict(DiagnosticsConfig, cc.get("diagnostics", {})),
          cc.get("backup_dir"))
