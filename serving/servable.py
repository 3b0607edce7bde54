"""One loaded model version: its SavedModel, its SignatureDefs, checked and (batched) calls.

Requests are checked against the SignatureDef the way TF Serving checks them (input names,
dtypes, shapes), so a bad request gets INVALID_ARGUMENT with one sentence before any
TensorFlow op runs.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Dict, Iterable, Optional

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from edgeflow.serving.batching import Arrays, Batcher
from edgeflow.serving.errors import ServingError, from_tensorflow, invalid

log = logging.getLogger("edgeflow.serving")
INIT_OP_KEY = "__saved_model_init_op"


def shape_text(dims: Iterable[int]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(list(dims)) == 1 else "") + ")"


def dtype_of(array: np.ndarray) -> tf.dtypes.DType:
    return tf.string if array.dtype.kind in "OSU" else tf.dtypes.as_dtype(array.dtype)


class Signature:
    """A SignatureDef and the function behind it; ``__call__`` takes and returns numpy arrays by alias."""

    def __init__(self, key: str, definition: meta_graph_pb2.SignatureDef, function, batching: Optional[dict]):
        self.key, self.definition, self._function = key, definition, function
        self.method_name = definition.method_name
        specs = list(definition.inputs.values()) + list(definition.outputs.values())
        batch_major = all(s.tensor_shape.dim and s.tensor_shape.dim[0].size == -1 for s in specs)
        self._batcher = Batcher(self._call, name=key, **batching) if batching and batch_major else None

    def check(self, inputs: Dict[str, tf.dtypes.DType], shapes: Dict[str, tuple]) -> None:
        """Raises INVALID_ARGUMENT unless the request's aliases, dtypes and shapes fit this signature."""
        expected = set(self.definition.inputs)
        extra, missing = sorted(set(inputs) - expected), sorted(expected - set(inputs))
        if extra:
            raise invalid(f"input tensor alias not found in signature {self.key!r}: {', '.join(extra)}; "
                          f"send the inputs {', '.join(sorted(expected))}")
        if missing:
            raise invalid(f"the request lacks input {', '.join(missing)} of signature {self.key!r}; "
                          f"send all of {', '.join(sorted(expected))}")
        for alias, dtype in inputs.items():
            info = self.definition.inputs[alias]
            want = tf.dtypes.as_dtype(info.dtype)
            if dtype != want:
                raise invalid(f"input {alias!r} must be {want.name} (signature {self.key!r}), got {dtype.name}; "
                              f"send {want.name} values")
            if info.tensor_shape.unknown_rank:
                continue
            dims = [d.size for d in info.tensor_shape.dim]
            got = shapes[alias]
            if len(got) != len(dims) or any(d not in (-1, g) for d, g in zip(dims, got)):
                raise invalid(f"input {alias!r} has shape {shape_text(got)} but signature {self.key!r} "
                              f"takes {shape_text(dims)} (-1: any size); reshape it")

    def __call__(self, inputs: Arrays, output_filter: Iterable[str] = ()) -> Arrays:
        wanted = list(output_filter)
        unknown = sorted(set(wanted) - set(self.definition.outputs))
        if unknown:
            raise invalid(f"output tensor alias not found in signature {self.key!r}: {', '.join(unknown)}; "
                          f"its outputs are {', '.join(sorted(self.definition.outputs))}")
        self.check({k: dtype_of(v) for k, v in inputs.items()}, {k: v.shape for k, v in inputs.items()})
        outputs = self._batcher(inputs) if self._batcher else self._call(inputs)
        return {k: v for k, v in outputs.items() if not wanted or k in wanted}

    def _call(self, inputs: Arrays) -> Arrays:
        try:
            result = self._function(**{k: tf.constant(v) for k, v in inputs.items()})
        except ServingError:
            raise
        except Exception as err:  # noqa: BLE001 - TensorFlow's error becomes one sentence and a status
            raise from_tensorflow(err) from None
        return {k: v.numpy() for k, v in result.items()}

    def close(self) -> None:
        if self._batcher:
            self._batcher.close()


def read_signature_defs(model_dir: Path) -> Dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs of the ``serve`` MetaGraph, straight from saved_model.pb (what TF Serving reads)."""
    saved_model = saved_model_pb2.SavedModel.FromString((Path(model_dir) / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                       f"{model_dir} has no MetaGraph tagged 'serve'; export it with tf.saved_model.save")


class Servable:
    """A loaded model version. ``inflight`` counts requests using it, so retiring it can wait for them."""

    def __init__(self, name: str, version: int, path: Path, batching: Optional[dict] = None):
        self.name, self.version, self.path = name, version, Path(path)
        self.signature_defs = read_signature_defs(self.path)
        self._loaded = tf.saved_model.load(str(self.path), tags=["serve"])
        self.signatures = {key: Signature(key, self.signature_defs[key], fn, batching)
                           for key, fn in self._loaded.signatures.items() if key in self.signature_defs}
        self.inflight = 0
        self.retiring = False
        self.idle = threading.Condition()

    def signature(self, key: str) -> Signature:
        key = key or "serving_default"
        if key not in self.signatures:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"Serving signature key {key!r} not found in model {self.name!r} version "
                               f"{self.version}; use one of {', '.join(sorted(self.signatures))}")
        return self.signatures[key]

    def close(self) -> None:
        for signature in self.signatures.values():
            signature.close()
        self._loaded = None
