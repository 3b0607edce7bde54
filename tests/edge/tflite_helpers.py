"""Small real .tflite files for the device-runtime tests, with model info JSON written to the
``edgeflow.edge/1`` contract (what EdgeExport writes): task, input/output tensors, task block."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from edgeflow.edge.runtime import EdgeModel
from edgeflow.edge.tflite_metadata import embed_model_info


def convert(model, path: Path, representative: Optional[np.ndarray] = None) -> Path:
    """A Keras model -> .tflite at `path`: float32, or full-integer int8 (int8 in and out) when
    `representative` (N, *input_shape[1:]) is given."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([representative[i:i + 1]] for i in range(len(representative)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def _tensor(details: dict, key: str, text: str) -> dict:
    scale, zero = details["quantization"]
    return {"name": details["name"], "shape": [int(d) for d in details["shape"]],
            "dtype": np.dtype(details["dtype"]).name, "scale": float(scale), "zero_point": int(zero), key: text}


def write_info(path: Path, task: str, where: str = "beside", **blocks) -> dict:
    """Writes the model info of the .tflite at `path` beside it (``model.json``) or embedded in it
    (as EdgeExport embeds it: edgeflow's entry, standard TFLite metadata, packed labels.txt)."""
    m = EdgeModel(path, use_edgetpu=False)
    info = {"format": "edgeflow.edge/1", "task": task, "variant": "test",
            "input": _tensor(m.input, "preprocessing", "raw values; q = round(x / scale) + zero_point"),
            "output": _tensor(m.output, "meaning", f"{task} output"), **blocks}
    if where == "beside":
        path.with_suffix(".json").write_text(json.dumps(info))
    else:
        path.write_bytes(embed_model_info(path.read_bytes(), info))
    return info


def run_edge_cli(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """``edgeflow-edge ARGS`` in a fresh Python process that asserts TensorFlow was never imported."""
    code = ("import sys\n"
            "from edgeflow.edge.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
            "sys.exit(rc)\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=cwd)
