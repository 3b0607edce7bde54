"""DetectionExampleGen: a TFX ExampleGen that reads a YOLO or COCO folder with Apache Beam.

The labels are parsed and checked once (:func:`scan_detection_folder`, on the driver; they are
small text); Beam then reads, checks and encodes every labelled image in parallel. Each
tf.Example holds the encoded image as on disk, its relative path (the split key) and one
variable-length list per box field (see the ``*_KEY`` names).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from edgeflow.components.detection.labels import LabelledImage, scan_detection_folder
from edgeflow.components.image.folder import decode_check
from edgeflow.models.features import IMAGE_KEY, PATH_KEY
from edgeflow.models.features import BOX_KEYS, CLASS_KEY

log = logging.getLogger(__name__)

# Variable-length box features, one value per object: (cx, cy, w, h) in [0, 1] and the class index.


def to_detection_example(data: bytes, item: LabelledImage) -> tf.train.Example:
    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

    feature = {IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
               PATH_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[item.image.encode()])),
               CLASS_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=list(item.classes)))}
    for i, key in enumerate(BOX_KEYS):
        feature[key] = floats(box[i] for box in item.boxes)
    return tf.train.Example(features=tf.train.Features(feature=feature))


class _ReadLabelledImage(beam.DoFn):
    """LabelledImage -> tf.Example, or nothing (counted and logged) for an unreadable image."""

    def __init__(self, root: str):
        self._root = root
        self._read = beam.metrics.Metrics.counter("edgeflow", "detection_images_read")
        self._bad = beam.metrics.Metrics.counter("edgeflow", "detection_images_skipped")

    def process(self, item: LabelledImage):
        with tf.io.gfile.GFile(os.path.join(self._root, item.image), "rb") as f:
            data = f.read()
        reason = decode_check(data)
        if reason:
            self._bad.inc()
            log.warning("DetectionExampleGen skipped %s: %s", item.image, reason)
            return
        self._read.inc()
        yield to_detection_example(data, item)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _DetectionFolderToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str):
    root = exec_properties["input_base"]
    scan = scan_detection_folder(root, max_bad_fraction=1.0)  # the share was enforced before the run
    return (pipeline
            | "ListLabelledImages" >> beam.Create(list(scan.images))
            | "ReadAndEncode" >> beam.ParDo(_ReadLabelledImage(root)))


class DetectionFolderExecutor(BaseExampleGenExecutor):
    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _DetectionFolderToExample


def DetectionExampleGen(input_base: str, train_buckets: int, eval_buckets: int) -> FileBasedExampleGen:
    """The component: every labelled image under `input_base`, split train:eval by a hash of its path."""
    output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train_buckets),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets)],
        partition_feature_name=PATH_KEY))
    input_config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="images", pattern="images/*")])
    return FileBasedExampleGen(
        input_base=input_base, input_config=input_config, output_config=output_config,
        custom_executor_spec=executor_spec.BeamExecutorSpec(DetectionFolderExecutor),
    ).with_id("DetectionExampleGen")
