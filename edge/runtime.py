"""The on-device runtime: load a .tflite, feed it, read it. Imports no TensorFlow.

A device needs only NumPy, Pillow and one TFLite runtime (``requirements-device.txt``):
LiteRT (``ai_edge_litert``) is preferred, ``tflite_runtime`` is the fallback. When the
Edge TPU library (``libedgetpu.so.1``) is installed, its delegate is loaded; otherwise the
model runs on the CPU (a model compiled for the Edge TPU needs the delegate).

What a model expects is read from the JSON written beside it (``model.tflite`` ->
``model.json``) or, when that is missing, from the same JSON embedded in the .tflite.
"""
from __future__ import annotations

import ctypes.util
import json
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from edgeflow import EdgeflowError
from edgeflow.edge.model_file import ModelFileError, read_metadata

EDGETPU_LIBRARY = "libedgetpu.so.1"
# Notices the C++ runtime prints to stderr on every load; nothing a user acts on.
RUNTIME_NOTICES = re.compile(r"INFO: (Created TensorFlow Lite XNNPACK delegate for CPU|"
                             r"Initialized TensorFlow Lite runtime)\.?\s*$")


class EdgeRuntimeError(EdgeflowError):
    """A model or an input the device runtime cannot use."""


def interpreter_module():
    """LiteRT's interpreter module, or tflite_runtime's."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter
        except ImportError:
            raise EdgeRuntimeError("no TFLite runtime is installed; pip install ai-edge-litert "
                                   "(or tflite-runtime), see requirements-device.txt") from None
    return interpreter


def edgetpu_delegate():
    """The Edge TPU delegate when libedgetpu is installed, else None."""
    if ctypes.util.find_library("edgetpu") is None:
        return None
    try:
        return interpreter_module().load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError):
        return None


@contextmanager
def runtime_notices_dropped():
    """Runs its block with the process's stderr (fd 2) captured, then writes back every line
    except the runtime's known INFO notices (:data:`RUNTIME_NOTICES`), so warnings and errors
    still reach the console. The C++ runtime writes to fd 2 directly, past ``sys.stderr``."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not RUNTIME_NOTICES.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def read_model_info(path: Path, data: bytes) -> dict:
    """The model info JSON beside the model, else the copy embedded in it, else {}."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        return json.loads(sidecar.read_text())
    try:
        return read_metadata(data) or {}
    except (ModelFileError, ImportError):
        return {}


@dataclass
class Prediction:
    source: str
    class_id: int
    label: str
    score: float


class EdgeModel:
    """A loaded .tflite model: ``run`` takes real-valued inputs and returns real-valued outputs,
    quantizing and dequantizing with the model's own scale and zero point."""

    def __init__(self, path: str | Path, num_threads: Optional[int] = None, use_edgetpu: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise EdgeRuntimeError(f"no model file at {self.path}; give the path of a .tflite file")
        data = self.path.read_bytes()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise EdgeRuntimeError(f"{self.path} is not a TFLite model (no TFL3 identifier); give a .tflite file")
        self.info = read_model_info(self.path, data)
        module = interpreter_module()
        delegate = edgetpu_delegate() if use_edgetpu else None
        self.on_edgetpu = delegate is not None
        try:
            with runtime_notices_dropped():
                self.interpreter = module.Interpreter(model_content=data, num_threads=num_threads,
                                                      experimental_delegates=[delegate] if delegate else None)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
            raise EdgeRuntimeError(f"{self.path} cannot be loaded ({first}); the file may be truncated "
                                   "or need the Edge TPU delegate - export it again") from None
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()
        self.output = self.outputs[0]

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.input["shape"])

    def image_size(self) -> tuple:
        """(H, W, C) of an image model's (1, H, W, C) input; a clear error for any other input."""
        if len(self.input_shape) != 4:
            raise EdgeRuntimeError(f"{self.path.name} takes inputs of shape {self.input_shape}, not images "
                                   "(1, H, W, C); check the model and its task in the model info JSON")
        return self.input_shape[1:]

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        scale, zero = self.input["quantization"]
        if np.issubdtype(dtype, np.floating):
            return x.astype(dtype)
        if x.dtype == dtype:  # already quantized by the caller
            return x
        if not np.issubdtype(x.dtype, np.floating):
            raise EdgeRuntimeError(f"input dtype {x.dtype} does not fit the model's {np.dtype(dtype).name} input; "
                                   "pass real values (float) or values already quantized to the model's dtype")
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)

    def _dequantize(self, y: np.ndarray, output: Optional[dict] = None) -> np.ndarray:
        scale, zero = (output or self.output)["quantization"]
        if np.issubdtype(y.dtype, np.floating) or scale == 0:
            return y.astype(np.float32)
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)

    def run_one(self, x: np.ndarray) -> np.ndarray:
        """One batch of exactly the model's input shape, already in its dtype -> raw output."""
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def run_outputs(self, x: np.ndarray) -> list:
        """One input (1, *input_shape[1:]) real values -> every output of the model, real values, in the
        interpreter's order (a feature-pyramid detector has one per scale)."""
        x = np.asarray(x)
        if x.shape != (1, *self.input_shape[1:]) or self.input_shape[0] != 1:
            raise EdgeRuntimeError(f"input has shape {tuple(x.shape)} but run_outputs takes one input of shape "
                                   f"(1, {', '.join(map(str, self.input_shape[1:]))}) for a batch-1 model")
        self.interpreter.set_tensor(self.input["index"], self._quantize(x))
        self.interpreter.invoke()
        return [self._dequantize(self.interpreter.get_tensor(o["index"]), o) for o in self.outputs]

    def run(self, x: np.ndarray) -> np.ndarray:
        """(N, *input_shape[1:]) real values -> (N, *output_shape[1:]) real values."""
        x = np.asarray(x)
        expected = self.input_shape[1:]
        if x.shape[1:] != expected:
            raise EdgeRuntimeError(f"input has shape {tuple(x.shape)} but the model expects (N, "
                                   f"{', '.join(map(str, expected))}); resize or reshape the input")
        q = self._quantize(x)
        batch = self.input_shape[0]
        if batch == len(q):
            return self._dequantize(self.run_one(q))
        if batch != 1:
            raise EdgeRuntimeError(f"the model takes batches of exactly {batch}; pass {batch} inputs at a time")
        return np.concatenate([self._dequantize(self.run_one(q[i:i + 1])) for i in range(len(q))])


def read_image(path: str | Path, size: Sequence[int], channels: int) -> tuple:
    """An image file -> ((H, W, C) float32 in [0, 1], (original width, original height)).

    As the pipelines' Transform prepares it: grayscale or RGB, bilinear resize, pixels / 255.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            original = img.size
            img = img.convert("L" if channels == 1 else "RGB").resize((size[1], size[0]), Image.BILINEAR)
            pixels = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError):
        raise EdgeRuntimeError(f"{path} is not a readable image; give a PNG or JPEG file") from None
    return pixels.reshape(size[0], size[1], channels), original


def load_image(path: str | Path, size: Sequence[int], channels: int) -> np.ndarray:
    """An image file -> (H, W, C) float32 in [0, 1], as the pipeline's Transform prepares it."""
    return read_image(path, size, channels)[0]


def classify(model: EdgeModel, images: Sequence[str | Path]) -> List[Prediction]:
    """Top-1 class of each image file."""
    h, w, c = model.image_size()
    x = np.stack([load_image(p, (h, w), c) for p in images])
    probs = model.run(x)
    labels = model.info.get("labels") or [str(i) for i in range(probs.shape[-1])]
    ids = probs.argmax(axis=-1)
    return [Prediction(str(p), int(i), labels[int(i)], float(probs[k, i])) for k, (p, i) in enumerate(zip(images, ids))]
