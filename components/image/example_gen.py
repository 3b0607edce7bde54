"""ImageFolderExampleGen: a TFX ExampleGen that reads an image folder with Apache Beam.

``<input_base>/<class name>/<image>.png|jpg`` (or, with a span pattern such as
``span-{SPAN}/*/*``, ``<input_base>/span-<n>/<class name>/<image>`` of the newest span, which
TFX's driver resolves) becomes tf.Examples with the encoded image bytes (``image_raw``), the
class index (``label``, classes sorted by name) and the ``<class>/<file>`` path (``image_path``). TFX's own output split config hashes ``image_path``, so the
train/eval split is deterministic and does not depend on where the folder lives.
Unreadable images are skipped, counted in a Beam metric and named in the log.
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

from edgeflow.components.image.folder import IMAGE_SUFFIXES, decode_check, to_example
from edgeflow.models.features import PATH_KEY

log = logging.getLogger(__name__)


class _ReadImage(beam.DoFn):
    """(relative path, label) -> tf.Example, or nothing for an unreadable image."""

    def __init__(self, root: str):
        self._root = root
        self._read = beam.metrics.Metrics.counter("edgeflow", "images_read")
        self._bad = beam.metrics.Metrics.counter("edgeflow", "images_skipped")

    def process(self, item):
        rel_path, label = item
        with tf.io.gfile.GFile(os.path.join(self._root, rel_path), "rb") as f:
            data = f.read()
        reason = decode_check(data)
        if reason:
            self._bad.inc()
            log.warning("ImageFolderExampleGen skipped %s: %s", rel_path, reason)
            return
        self._read.inc()
        yield to_example(data, "/".join(rel_path.split("/")[-2:]), label)  # <class>/<file>: split key


def list_labelled_images(root: str, pattern: str):
    """[(path relative to `root`, label)] for images matching `pattern` (``.../<class>/<image>``);
    the class is each file's parent folder, classes sorted by name."""
    paths = [p for p in sorted(tf.io.gfile.glob(os.path.join(root, pattern)))
             if p.lower().endswith(IMAGE_SUFFIXES) and not os.path.basename(os.path.dirname(p)).startswith(".")]
    index = {name: i for i, name in enumerate(sorted({os.path.basename(os.path.dirname(p)) for p in paths}))}
    return [(os.path.relpath(p, root).replace(os.sep, "/"), index[os.path.basename(os.path.dirname(p))])
            for p in paths]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ImageFolderToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str):
    root = exec_properties["input_base"]
    items = list_labelled_images(root, split_pattern)
    return (pipeline
            | "ListImages" >> beam.Create(items)
            | "ReadAndCheck" >> beam.ParDo(_ReadImage(root)))


class ImageFolderExecutor(BaseExampleGenExecutor):
    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _ImageFolderToExample


def ImageFolderExampleGen(input_base: str, train_buckets: int, eval_buckets: int,
                          pattern: str = "*/*") -> FileBasedExampleGen:
    """The component: every ``<class>/<image>`` matching `pattern` under `input_base` (``{SPAN}`` and
    ``{VERSION}`` pick the newest span), split train:eval by hash of its ``<class>/<file>`` path."""
    output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train_buckets),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets)],
        partition_feature_name=PATH_KEY))
    input_config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="images", pattern=pattern)])
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        custom_executor_spec=executor_spec.BeamExecutorSpec(ImageFolderExecutor),
    ).with_id("ImageFolderExampleGen")
