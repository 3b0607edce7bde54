"""Standard TFLite metadata, written with the ``flatbuffers`` package alone (no TensorFlow, no tflite-support).

TFLite's readers (the Task Library, MediaPipe, Android Studio's model binding, Netron,
``tflite_support.metadata.MetadataDisplayer``) look for a model metadata buffer named
``TFLITE_METADATA`` that holds a ``ModelMetadata`` FlatBuffer (file identifier ``M001``,
tflite-support's ``metadata_schema.fbs``), and for its associated files in a zip archive
appended to the model, as tflite-support's ``MetadataPopulator`` packs them.
tflite-support 0.4.4 does not import beside TensorFlow 2.16, so :func:`standard_metadata`
builds the few tables edgeflow fills with flatbuffers' ``Builder`` directly; the field slots
below are the schema's field indices.

What edgeflow writes, from the model info (:mod:`edgeflow.components.edge_export.export`):

* ``ModelMetadata``: name, description (input preprocessing and output meaning), version,
  author, ``min_parser_version`` 1.0.0, one ``SubGraphMetadata``;
* input ``TensorMetadata``: ``NormalizationOptions`` mean/std per channel or feature
  (images: mean 0, std 255, i.e. pixels / 255; raw windows: mean 0, std 1, the model
  standardizes inside its graph), and content ``ImageProperties`` (RGB or GRAYSCALE, H x W)
  for a ``(1, H, W, C)`` image input, ``FeatureProperties`` for a window;
* output ``TensorMetadata``: ``FeatureProperties``, and for classifiers and detectors the
  associated file ``labels.txt`` (``TENSOR_AXIS_LABELS``, one label a line), packed into the file.
"""
from __future__ import annotations

import io
import json
import zipfile
from typing import Dict, List, Optional, Sequence

from edgeflow import __version__
from edgeflow.edge.model_file import INFO_METADATA_NAME, embed_buffers

STANDARD_METADATA_NAME = "TFLITE_METADATA"
METADATA_FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # every field written here is in the schema's first version
LABELS_FILE = "labels.txt"

# metadata_schema.fbs enums
TENSOR_AXIS_LABELS = 2  # AssociatedFileType
RGB, GRAYSCALE = 1, 2  # ColorSpaceType
FEATURE_PROPERTIES, IMAGE_PROPERTIES = 1, 2  # ContentProperties union
NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions union


def embed_model_info(data: bytes, info: dict, version: str = f"edgeflow {__version__}") -> bytes:
    """`data` (a .tflite from the converter) with the model info `info` embedded twice: as edgeflow's
    JSON entry ``edgeflow_info`` and as standard TFLite metadata with its packed ``labels.txt``."""
    data = embed_buffers(data, {INFO_METADATA_NAME: json.dumps(info, sort_keys=True).encode(),
                                STANDARD_METADATA_NAME: standard_metadata(info, version)})
    return pack_files(data, associated_files(info))


def normalization(info: dict) -> tuple[List[float], List[float]]:
    """(mean, std) per channel/feature: what a reader applies to raw input, (x - mean) / std."""
    shape = info["input"]["shape"]
    if _is_image(info):
        return [0.0] * shape[-1], [255.0] * shape[-1]
    return [0.0] * shape[-1], [1.0] * shape[-1]


def _is_image(info: dict) -> bool:
    """edgeflow's image inputs are (1, H, W, C) with 1 or 3 channels; windows are (1, W, F)."""
    shape = info["input"]["shape"]
    return len(shape) == 4 and shape[-1] in (1, 3)


def standard_metadata(info: dict, version: str) -> bytes:
    """The ``ModelMetadata`` FlatBuffer (identifier ``M001``) for the model described by `info`."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    labels = info.get("labels")
    task, variant = info["task"], info.get("variant", "")
    name = f"edgeflow {task} model ({variant})" if variant else f"edgeflow {task} model"
    description = f"Input: {info['input']['preprocessing']}. Output: {info['output']['meaning']}."

    input_tensor = _tensor(b, info["input"]["name"], info["input"]["preprocessing"], _input_content(b, info),
                           _normalization_unit(b, *normalization(info)), None)
    label_file = _associated_file(b, LABELS_FILE, "labels of the output's last axis, one per line") if labels else None
    output_tensor = _tensor(b, info["output"]["name"], info["output"]["meaning"], _feature_content(b), None,
                            label_file)
    inputs, outputs = _vector(b, [input_tensor]), _vector(b, [output_tensor])
    sub_name, sub_description = b.CreateString(task), b.CreateString(description)
    b.StartObject(10)  # SubGraphMetadata
    b.PrependUOffsetTRelativeSlot(0, sub_name, 0)
    b.PrependUOffsetTRelativeSlot(1, sub_description, 0)
    b.PrependUOffsetTRelativeSlot(2, inputs, 0)
    b.PrependUOffsetTRelativeSlot(3, outputs, 0)
    subgraph = b.EndObject()
    subgraphs = _vector(b, [subgraph])
    strings = [b.CreateString(s) for s in (name, description, version, "edgeflow", MIN_PARSER_VERSION)]
    b.StartObject(8)  # ModelMetadata
    for slot, value in zip((0, 1, 2, 4, 7), strings):  # name, description, version, author, min_parser_version
        b.PrependUOffsetTRelativeSlot(slot, value, 0)
    b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    b.Finish(b.EndObject(), file_identifier=METADATA_FILE_IDENTIFIER)
    return bytes(b.Output())


def associated_files(info: dict) -> Dict[str, bytes]:
    """The files :func:`standard_metadata` names, by name: ``labels.txt`` for a model with labels."""
    labels: Optional[Sequence[str]] = info.get("labels")
    return {LABELS_FILE: "".join(f"{label}\n" for label in labels).encode()} if labels else {}


def pack_files(data: bytes, files: Dict[str, bytes]) -> bytes:
    """`data` (a .tflite without packed files) with `files` appended as a zip archive, stored
    uncompressed, as ``MetadataPopulator`` does; TFLite runtimes ignore bytes after the FlatBuffer.
    Entries carry a fixed date, so the same model and files give the same bytes."""
    if not files:
        return data
    out = io.BytesIO(data)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        for name, content in files.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, content)
    return out.getvalue()


def packed_files(data: bytes) -> Dict[str, bytes]:
    """The files packed into a .tflite by :func:`pack_files` (or tflite-support), by name ({} when none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: archive.read(n) for n in archive.namelist()}
    except zipfile.BadZipFile:
        return {}


def _vector(b, offsets: list) -> int:
    b.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _floats(b, values: Sequence[float]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _feature_content(b) -> int:
    b.StartObject(0)  # FeatureProperties
    properties = b.EndObject()
    return _content(b, FEATURE_PROPERTIES, properties)


def _input_content(b, info: dict) -> int:
    if not _is_image(info):
        return _feature_content(b)
    _, height, width, channels = info["input"]["shape"]
    b.StartObject(2)  # ImageSize
    b.PrependUint32Slot(0, int(width), 0)
    b.PrependUint32Slot(1, int(height), 0)
    size = b.EndObject()
    b.StartObject(2)  # ImageProperties
    b.PrependInt8Slot(0, RGB if channels == 3 else GRAYSCALE, 0)
    b.PrependUOffsetTRelativeSlot(1, size, 0)
    return _content(b, IMAGE_PROPERTIES, b.EndObject())


def _content(b, kind: int, properties: int) -> int:
    b.StartObject(3)  # Content
    b.PrependUint8Slot(0, kind, 0)
    b.PrependUOffsetTRelativeSlot(1, properties, 0)
    return b.EndObject()


def _normalization_unit(b, mean: Sequence[float], std: Sequence[float]) -> int:
    mean_v, std_v = _floats(b, mean), _floats(b, std)
    b.StartObject(2)  # NormalizationOptions
    b.PrependUOffsetTRelativeSlot(0, mean_v, 0)
    b.PrependUOffsetTRelativeSlot(1, std_v, 0)
    options = b.EndObject()
    b.StartObject(2)  # ProcessUnit
    b.PrependUint8Slot(0, NORMALIZATION_OPTIONS, 0)
    b.PrependUOffsetTRelativeSlot(1, options, 0)
    return _vector(b, [b.EndObject()])


def _associated_file(b, name: str, description: str) -> int:
    name_s, description_s = b.CreateString(name), b.CreateString(description)
    b.StartObject(5)  # AssociatedFile
    b.PrependUOffsetTRelativeSlot(0, name_s, 0)
    b.PrependUOffsetTRelativeSlot(1, description_s, 0)
    b.PrependInt8Slot(2, TENSOR_AXIS_LABELS, 0)
    return _vector(b, [b.EndObject()])


def _tensor(b, name: str, description: str, content: int, process_units: Optional[int],
            files: Optional[int]) -> int:
    name_s, description_s = b.CreateString(name), b.CreateString(description)
    b.StartObject(7)  # TensorMetadata
    b.PrependUOffsetTRelativeSlot(0, name_s, 0)
    b.PrependUOffsetTRelativeSlot(1, description_s, 0)
    b.PrependUOffsetTRelativeSlot(3, content, 0)
    if process_units is not None:
        b.PrependUOffsetTRelativeSlot(4, process_units, 0)
    if files is not None:
        b.PrependUOffsetTRelativeSlot(6, files, 0)
    return b.EndObject()
