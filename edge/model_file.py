"""Reads a .tflite file itself (the FlatBuffer), without TensorFlow and without running it.

Uses the TFLite schema bindings that ship inside ``ai_edge_litert`` (pure Python over the
``flatbuffers`` package), so it works on a device with only the device requirements.
What it gives: the operators in execution order (and which of them compute in floating point), every tensor's dtype and shape signature,
and named metadata entries (edgeflow stores its model info JSON there, see :func:`embed_metadata`, and
the standard TFLite metadata, see :mod:`edgeflow.edge.tflite_metadata`).
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from edgeflow import EdgeflowError

INFO_METADATA_NAME = "edgeflow_info"  # metadata entry holding the model info JSON


class ModelFileError(EdgeflowError):
    """The file is not a TFLite model (truncated, empty or something else)."""


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _enum_names(enum_class) -> dict:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # "INT8", "FLOAT32", ...
    shape_signature: Tuple[int, ...]  # -1 marks a dynamic dimension

    @property
    def static(self) -> bool:
        return all(d >= 0 for d in self.shape_signature)


@dataclass(frozen=True)
class OpInfo:
    index: int  # position in the execution order
    name: str  # builtin name ("CONV_2D") or the custom op's name
    inputs: Tuple[TensorInfo, ...]
    outputs: Tuple[TensorInfo, ...]


def read_model(data: bytes):
    """The unpacked ``ModelT`` of `data`; a clear error when `data` is not a TFLite FlatBuffer."""
    schema = _schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError("the file is not a TFLite model (no TFL3 identifier); give a .tflite file "
                             "written by the TFLite converter")
    try:
        return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as err:  # noqa: BLE001 - any parse failure means a damaged file
        raise ModelFileError(f"the TFLite model is damaged or truncated ({err.__class__.__name__}); "
                             "copy or export the .tflite file again") from None


def read_model_file(path: str | Path):
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"no model file at {p}; give the path of a .tflite file")
    return read_model(p.read_bytes())


def _tensor(graph, i: int, type_names: dict) -> TensorInfo:
    t = graph.tensors[i]
    sig = t.shapeSignature if t.shapeSignature is not None and len(t.shapeSignature) else t.shape
    return TensorInfo(_name(t.name), type_names.get(t.type, str(t.type)),
                      tuple(int(d) for d in (sig if sig is not None else ())))


def operators(model) -> List[OpInfo]:
    """The main subgraph's operators in execution order, with their tensors."""
    schema = _schema()
    op_names, type_names = _enum_names(schema.BuiltinOperator), _enum_names(schema.TensorType)
    graph = model.subgraphs[0]
    out = []
    for i, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = _name(code.customCode) if builtin == schema.BuiltinOperator.CUSTOM else op_names.get(builtin, str(builtin))
        ins = tuple(_tensor(graph, j, type_names) for j in (op.inputs if op.inputs is not None else ()) if j >= 0)
        outs = tuple(_tensor(graph, j, type_names) for j in (op.outputs if op.outputs is not None else ()) if j >= 0)
        out.append(OpInfo(i, name, ins, outs))
    return out


def io_tensors(model) -> Tuple[List[TensorInfo], List[TensorInfo]]:
    """(inputs, outputs) of the main subgraph."""
    type_names, graph = _enum_names(_schema().TensorType), model.subgraphs[0]
    return ([_tensor(graph, i, type_names) for i in graph.inputs],
            [_tensor(graph, i, type_names) for i in graph.outputs])


FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64")
CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")  # real <-> integer at a float model's inputs and outputs


def float_ops(model) -> List[OpInfo]:
    """The operators that compute on floating-point tensors: none in an integer-only model (whose only
    float tensors, if any, are at QUANTIZE / DEQUANTIZE ops converting real inputs and outputs)."""
    return [op for op in operators(model) if op.name not in CONVERSION_OPS
            and any(t.dtype in FLOAT_TYPES for t in op.inputs + op.outputs)]


def strip_tensor_names(data: bytes) -> bytes:
    """`data` without what the interpreter never reads: the names of tensors other than the subgraphs'
    inputs and outputs, and the calibration min/max kept beside each scale and zero point.

    Measured on the default forecaster (715 ops, BENCHMARKS.md): tensor names are 51 KB of the float32
    file and 192 KB of the 403 KB full-int8 one (its quantizer names each tensor after every op fused
    into it), which made int8 larger than float32; int16x8 also keeps a min/max pair per activation.
    Tensors with the same scales and zero points then share one quantization table (a FlatBuffer table may
    be referenced from many places): the unrolled forecaster's int16x8 file held 973 tables, 342 distinct."""
    model = read_model(data)
    for graph in model.subgraphs:
        keep = set(graph.inputs if graph.inputs is not None else ()) | set(graph.outputs if graph.outputs is not None else ())
        for i, t in enumerate(graph.tensors or []):
            if i not in keep:
                t.name = b""
            if t.quantization is not None:
                t.quantization.min = t.quantization.max = None
    return pack(model, len(data))


def pack(model, size: int) -> bytes:
    """A ``ModelT`` as .tflite bytes (`size`: the builder's first capacity); tensors with the same scales and
    zero points share one quantization table (:func:`_shared_quantization`), every time the file is packed."""
    import flatbuffers

    shared = {}
    for graph in model.subgraphs:
        for t in graph.tensors or []:
            if t.quantization is not None:
                t.quantization = _shared_quantization(t.quantization, shared)
    builder = flatbuffers.Builder(size)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _shared_quantization(q, shared: dict):
    """The one table of `shared` with `q`'s scales, zero points, min/max and axis (`q` itself when first seen); each
    packs once per builder, so every tensor holding it points at the same bytes."""
    if q.details is not None:
        return q
    key = tuple(tuple(v) if v is not None else None for v in (q.scale, q.zeroPoint, q.min, q.max)) + (q.quantizedDimension,)
    if key not in shared:
        packed, pack_table = {}, q.Pack

        def pack_once(builder):
            if id(builder) not in packed:
                packed[id(builder)] = pack_table(builder)
            return packed[id(builder)]

        q.Pack = pack_once
        shared[key] = q
    return shared[key]


def embed_metadata(data: bytes, payload: dict, name: str = INFO_METADATA_NAME) -> bytes:
    """`data` with `payload` (JSON) stored as a named metadata buffer; an old entry of that name is replaced."""
    return embed_buffers(data, {name: json.dumps(payload, sort_keys=True).encode()})


def embed_buffers(data: bytes, entries: Dict[str, bytes]) -> bytes:
    """`data` with each of `entries` stored as a named metadata buffer (an entry of that name keeps its
    buffer, with the new bytes), in one repack; files packed after the FlatBuffer are not kept (pack them
    afterwards)."""
    schema = _schema()
    model = read_model(data)
    model.metadata = model.metadata or []
    existing = {_name(m.name): m.buffer for m in model.metadata}
    for name, raw in entries.items():
        if name not in existing:
            model.buffers.append(schema.BufferT())
            entry = schema.MetadataT()
            entry.name, entry.buffer = name, len(model.buffers) - 1
            model.metadata.append(entry)
            existing[name] = entry.buffer
        model.buffers[existing[name]].data = list(raw)
    return pack(model, len(data) + 4096)


# vtable offsets in TFLite's schema.fbs (4 + 2 x field index), for reading metadata in place.
MODEL_BUFFERS, MODEL_METADATA = 12, 16
METADATA_NAME, METADATA_BUFFER = 4, 6
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 4, 6, 8


def read_metadata(data: bytes, name: str = INFO_METADATA_NAME) -> Optional[dict]:
    """The JSON stored under `name`, or None (see :func:`read_buffer`)."""
    raw = read_buffer(data, name)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode())
    except ValueError:
        raise ModelFileError(f"the TFLite model's {name} metadata is damaged; "
                             "copy or export the .tflite file again") from None


def read_buffer(data: bytes, name: str) -> Optional[bytes]:
    """The bytes of the metadata buffer named `name`, or None.

    Reads the FlatBuffer in place with the ``flatbuffers`` package: only the metadata table and
    one buffer are touched, so the cost does not grow with the model, and the 690 KB generated
    schema module is not imported (:func:`read_model` imports it and copies every weight into
    Python lists).
    """
    from flatbuffers import encode, number_types as types, table

    if len(data) < 8 or data[4:8] != b"TFL3":
        read_model(data)  # raises the clear error
    try:
        buf = bytearray(data)
        model = table.Table(buf, encode.Get(types.UOffsetTFlags.packer_type, buf, 0))
        for entry in _tables(model, MODEL_METADATA):
            o = entry.Offset(METADATA_NAME)
            if not o or entry.String(entry.Pos + o).decode() != name:
                continue
            o = entry.Offset(METADATA_BUFFER)
            index = entry.Get(types.Uint32Flags, entry.Pos + o) if o else 0
            return _buffer_bytes(_tables(model, MODEL_BUFFERS)[index], buf)
    except (IndexError, TypeError, ValueError, struct.error):
        raise ModelFileError("the TFLite model is truncated or its metadata is damaged; "
                             "copy or export the .tflite file again") from None
    return None


def _tables(tab, field: int) -> list:
    """The tables of the vector `field` of `tab` ([] when absent)."""
    from flatbuffers import table

    o = tab.Offset(field)
    if not o:
        return []
    start = tab.Vector(o)
    return [table.Table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(tab.VectorLen(o))]


def _buffer_bytes(buffer, data: bytearray) -> bytes:
    """A Buffer table's bytes: inline data, or (models over 2 GB) offset/size after the FlatBuffer."""
    from flatbuffers import number_types as types

    o = buffer.Offset(BUFFER_OFFSET)
    offset = buffer.Get(types.Uint64Flags, buffer.Pos + o) if o else 0
    if offset > 1:
        size = buffer.Get(types.Uint64Flags, buffer.Pos + buffer.Offset(BUFFER_SIZE))
        return bytes(data[offset:offset + size])
    o = buffer.Offset(BUFFER_DATA)
    if not o:
        return b""
    start = buffer.Vector(o)
    return bytes(data[start:start + buffer.VectorLen(o)])


def _name(raw) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
