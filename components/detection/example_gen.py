"""DetectionExampleGen: a TFX ExampleGen that reads a YOLO or COCO folder with Apache Beam.

YOLO: the driver lists file names only (image and label pairs); Beam reads and checks each
label file (:class:`_ParseYoloLabel`) and then reads, checks and encodes its image, so no
label set is held on the driver. COCO: the one ``annotations.json`` is read once on the driver
(``json.loads`` needs the whole file, and one image's annotations can sit anywhere in it);
Beam then streams its per-image entries. Each
tf.Example holds the encoded image as on disk, its relative path (the split key) and one
variable-length list per box field (see the ``*_KEY`` names).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Tuple

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from edgeflow.components.detection.labels import LabelledImage, folder_format, list_yolo, parse_yolo_file, scan_coco
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


class _ParseYoloLabel(beam.DoFn):
    """(image, label file) -> LabelledImage, or nothing (counted and logged) for an invalid label file."""

    def __init__(self, root: str, num_classes: int):
        self._root, self._num_classes = root, num_classes
        self._bad = beam.metrics.Metrics.counter("edgeflow", "detection_images_skipped")

    def process(self, pair: Tuple[str, str]):
        image, label = pair
        with tf.io.gfile.GFile(os.path.join(self._root, label), "r") as f:
            item, problems = parse_yolo_file(f.read(), image, label, self._num_classes)
        for p in problems:
            log.warning("DetectionExampleGen skipped %s: %s: %s", p.file, p.kind, p.detail)
        if item is None:
            self._bad.inc()
            return
        yield item


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _DetectionFolderToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str):
    # The share of bad files was enforced before the run (pipelines' build); here they are skipped.
    root = exec_properties["input_base"]
    if folder_format(Path(root)) == "coco":
        items = pipeline | "ListLabelledImages" >> beam.Create(list(scan_coco(Path(root)).images))
    else:
        names, pairs, _ = list_yolo(Path(root))
        items = (pipeline
                 | "ListLabelFiles" >> beam.Create(pairs)
                 | "ParseLabels" >> beam.ParDo(_ParseYoloLabel(root, len(names))))
    return items | "ReadAndEncode" >> beam.ParDo(_ReadLabelledImage(root))


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
