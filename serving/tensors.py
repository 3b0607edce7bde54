"""Tensors in and out of the server: TensorProtos (gRPC) and TF Serving's REST JSON.

REST requests come in two forms (TF Serving's REST API):

* row: ``{"instances": [row, ...]}``; a row is one input's value, or ``{alias: value}``
  for several inputs; rows are stacked into a batch. Answered as ``{"predictions": [...]}``.
* columnar: ``{"inputs": value}`` or ``{"inputs": {alias: value}}``; values are whole
  tensors (batch dimension included). Answered as ``{"outputs": ...}``.

A string value may be ``{"b64": "<base64>"}``; outputs whose alias ends in ``_bytes`` are
answered that way too.
"""
from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Dict, Mapping, Optional

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from edgeflow.serving.errors import ServingError, invalid

Arrays = Dict[str, np.ndarray]
MAX_TENSOR_ELEMENTS = 1 << 24  # values in one request tensor (float32: 64 MiB)


# dtypes read and written directly (the wire layout of tensor_content is little-endian numpy);
# the rest (half, complex, resource, ...) go through TensorFlow's slower general converters.
_DIRECT = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64, types_pb2.DT_INT32: np.int32,
           types_pb2.DT_INT64: np.int64, types_pb2.DT_UINT8: np.uint8, types_pb2.DT_INT8: np.int8,
           types_pb2.DT_INT16: np.int16, types_pb2.DT_UINT16: np.uint16, types_pb2.DT_UINT32: np.uint32,
           types_pb2.DT_UINT64: np.uint64, types_pb2.DT_BOOL: np.bool_}
_ENUM_OF = {np.dtype(v): k for k, v in _DIRECT.items()}
_VALUES_FIELD = {types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_INT64: "int64_val",
                 types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val", types_pb2.DT_BOOL: "bool_val"}


def _direct_ndarray(proto) -> Optional[np.ndarray]:
    """The array of a string or plain numeric TensorProto, or None when only TensorFlow can read it."""
    if proto.tensor_shape.unknown_rank:
        return None
    shape = [d.size for d in proto.tensor_shape.dim]
    count = int(np.prod(shape)) if shape else 1
    if proto.dtype == types_pb2.DT_STRING:
        values = proto.string_val
        if len(values) != count:
            return None
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    numpy_dtype = _DIRECT.get(proto.dtype)
    if numpy_dtype is None:
        return None
    if proto.tensor_content:
        array = np.frombuffer(proto.tensor_content, dtype=numpy_dtype)
    else:
        values = getattr(proto, _VALUES_FIELD.get(proto.dtype, "int_val"))
        array = np.array(values, dtype=numpy_dtype)
    return array.reshape(shape) if array.size == count else None  # a short value list: TF repeats the last


def check_tensor_size(proto) -> None:
    """Refuses a shape that would make the server allocate more than MAX_TENSOR_ELEMENTS values: a
    TensorProto may declare any shape with one value (TensorFlow repeats the last), so a 30-byte
    request could otherwise ask for terabytes."""
    if proto.tensor_shape.unknown_rank:
        raise invalid("a request tensor has an unknown rank; send its shape (tensor_shape.dim)")
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise invalid(f"a request tensor has shape {dims} with a negative size; send sizes >= 0")
    count = math.prod(dims)
    if count > MAX_TENSOR_ELEMENTS:
        raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"a request tensor of shape {dims} has {count} values, over this server's limit of "
                           f"{MAX_TENSOR_ELEMENTS}; send smaller tensors or split the batch")


def from_tensor_proto(proto) -> np.ndarray:
    """A request's TensorProto as a numpy array (strings as an object array of bytes)."""
    check_tensor_size(proto)
    try:
        direct = _direct_ndarray(proto)
        return direct if direct is not None else tf.make_ndarray(proto)
    except Exception as err:  # noqa: BLE001 - a malformed TensorProto
        raise invalid(f"a request tensor could not be read ({err}); send a well-formed TensorProto") from None


def to_tensor_proto(array: np.ndarray, proto: Optional[tensor_pb2.TensorProto] = None) -> tensor_pb2.TensorProto:
    """Writes `array` into `proto` (a new TensorProto by default), as ``tf.make_tensor_proto`` would."""
    proto = tensor_pb2.TensorProto() if proto is None else proto
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.flat)
    elif array.dtype in _ENUM_OF:
        proto.dtype = _ENUM_OF[array.dtype]
        proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    else:
        proto.CopyFrom(tf.make_tensor_proto(array))
        return proto
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def _decode_b64(value: Any) -> Any:
    """Replaces ``{"b64": ...}`` objects (at any depth) by their bytes."""
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise invalid(f"a JSON object in a tensor value must be {{\"b64\": \"<base64 string>\"}}, got keys "
                          f"{sorted(value)}; send plain values or base64 objects")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid("a \"b64\" value is not valid base64; encode the bytes with standard base64") from None
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def _to_array(alias: str, value: Any, info: meta_graph_pb2.TensorInfo) -> np.ndarray:
    dtype = tf.dtypes.as_dtype(info.dtype)
    value = _decode_b64(value)
    try:
        if dtype == tf.string:
            array = np.array(value, dtype=object)
            if not all(isinstance(v, bytes) for v in array.flat):
                raise ValueError("non-string values")
            return array
        array = np.array(value)
        if array.dtype == object or array.dtype.kind in "SU":
            raise ValueError("ragged or non-numeric values")
        if dtype.is_integer and array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
            raise ValueError("fractional values")
        return array.astype(dtype.as_numpy_dtype)
    except (ValueError, TypeError) as err:
        kind = 'string (or {"b64": ...})' if dtype == tf.string else "numeric"
        raise invalid(f"input {alias!r} could not be read as a {dtype.name} tensor ({err}); "
                      f"send {kind} values with a regular shape") from None


def parse_rest_inputs(body: Mapping[str, Any], inputs: Mapping[str, meta_graph_pb2.TensorInfo]) -> tuple:
    """(arrays by alias, "row" or "columnar") from a parsed ``:predict`` body."""
    if ("instances" in body) == ("inputs" in body):
        raise invalid("the request body must have exactly one of 'instances' (row form) or 'inputs' "
                      "(columnar form)")
    aliases = sorted(inputs)
    if "inputs" in body:
        value = body["inputs"]
        named = value if isinstance(value, dict) and "b64" not in value else None
        if named is None:
            if len(aliases) != 1:
                raise invalid(f"the signature has several inputs ({', '.join(aliases)}); send 'inputs' as an "
                              "object keyed by input name")
            named = {aliases[0]: value}
        return {k: _to_array(k, v, inputs[k]) if k in inputs else np.array(v, dtype=object)
                for k, v in named.items()}, "columnar"
    rows = body["instances"]
    if not isinstance(rows, list) or not rows:
        raise invalid("'instances' must be a non-empty list with one entry per example")
    if all(isinstance(r, dict) and "b64" not in r for r in rows):
        keys = set(rows[0])
        if any(set(r) != keys for r in rows):
            raise invalid("every instance must name the same inputs; send each input in every instance")
        columns = {k: [r[k] for r in rows] for k in keys}
    else:
        if len(aliases) != 1:
            raise invalid(f"the signature has several inputs ({', '.join(aliases)}); send each instance as an "
                          "object keyed by input name")
        columns = {aliases[0]: rows}
    return {k: _to_array(k, v, inputs[k]) if k in inputs else np.array(v, dtype=object)
            for k, v in columns.items()}, "row"


def _jsonable(alias: str, array: np.ndarray) -> Any:
    if array.dtype.kind in "OS":
        if alias.endswith("_bytes"):
            convert = lambda b: {"b64": base64.b64encode(b).decode("ascii")}  # noqa: E731
        else:
            convert = lambda b: b.decode("utf-8", errors="replace")  # noqa: E731
        return np.vectorize(convert, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def format_rest_outputs(outputs: Arrays, form: str) -> dict:
    """TF Serving's JSON answer: ``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar)."""
    values = {k: _jsonable(k, v) for k, v in sorted(outputs.items())}
    if form == "columnar":
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = len(next(iter(outputs.values())))
    if any(np.ndim(v) == 0 or len(v) != rows for v in outputs.values()):
        raise invalid("the outputs do not share a batch size, so they cannot be answered as rows; "
                      "use the columnar form ('inputs')")
    return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(rows)]}
