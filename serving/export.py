"""What TF Serving expects inside an exported SavedModel, beyond its signatures.

* ``assets.extra/tf_serving_warmup_requests``: a TFRecord file of ``PredictionLog`` records
  that the server replays before it marks a version AVAILABLE, so the first real request
  does not pay for graph warm-up.
* Classification signatures: Keras' ``model.save`` marks every signature as a *predict*
  signature; TF Serving's ``Classify`` RPC accepts only signatures whose method name is
  ``tensorflow/serving/classify`` (input ``inputs``: serialized tf.Examples, outputs
  ``classes`` and ``scores``). :func:`mark_classify_signatures` rewrites that method name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Iterator, List

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
CLASSIFY_METHOD = "tensorflow/serving/classify"
PREDICT_METHOD = "tensorflow/serving/predict"
REGRESS_METHOD = "tensorflow/serving/regress"


def warmup_record(model_name: str, signature: str, inputs: Dict[str, np.ndarray]) -> prediction_log_pb2.PredictionLog:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(model_dir: str, records: Iterable[prediction_log_pb2.PredictionLog]) -> str:
    """Writes `records` to ``<model_dir>/assets.extra/tf_serving_warmup_requests``; returns its path."""
    path = f"{model_dir}/{WARMUP_FILE}"
    tf.io.gfile.makedirs(f"{model_dir}/assets.extra")
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path


def read_warmup_requests(model_dir: Path) -> Iterator[prediction_log_pb2.PredictionLog]:
    """The warm-up records of a SavedModel (none when it has no warm-up file)."""
    path = Path(model_dir) / WARMUP_FILE
    if not path.is_file():
        return
    for raw in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        yield prediction_log_pb2.PredictionLog.FromString(raw)


def mark_classify_signatures(model_dir: str, keys: List[str]) -> None:
    """Sets the method name of signatures `keys` to ``tensorflow/serving/classify`` in saved_model.pb."""
    mark_method_signatures(model_dir, keys, CLASSIFY_METHOD)


def mark_method_signatures(model_dir: str, keys: List[str], method: str) -> None:
    """Sets the method name of signatures `keys` to `method` (classify: ``inputs`` -> ``classes``,
    ``scores``; regress: ``inputs`` -> ``outputs``) in saved_model.pb."""
    outputs = {"outputs"} if method == REGRESS_METHOD else {"classes", "scores"}
    path = f"{model_dir}/saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(tf.io.gfile.GFile(path, "rb").read())
    for meta_graph in saved_model.meta_graphs:
        for key in keys:
            signature = meta_graph.signature_def[key]
            assert set(signature.inputs) == {"inputs"} and set(signature.outputs) == outputs, key
            signature.method_name = method
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def blank_png(size: int, channels: int) -> bytes:
    """An encoded all-black PNG, (size, size, channels): a warm-up input for image signatures."""
    return tf.io.encode_png(tf.zeros([size, size, channels], tf.uint8)).numpy()
