"""The device runtime's cold start (process start to first prediction), side by side in one run.

Converts the default image CNN (2 blocks, 32 filters, 16x16 inputs; untrained: cold start does not
depend on the weights) to full int8 through EdgeExport's child-process converter, writes its model
info as EdgeExport does, then times fresh processes, median of `--repeats`:

* ``edgeflow-edge predict`` (the installed console script) with the model info JSON beside the .tflite,
  and with it only embedded in the .tflite;
* reading the embedded info alone: in place (``read_metadata``) vs unpacking the whole model with the
  generated schema (``read_model``, what the runtime did before);
* an empty Python, and ``import tensorflow`` (what the device runtime avoids).

    .venv/bin/python benchmarks/edge_cold_start.py [--repeats 7]
"""
import edgeflow  # noqa: F401

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np


def median_seconds(commands: dict, repeats: int) -> dict:
    """{name: median wall time of the command, process start to exit}; the commands take turns,
    round after round, so a change in the machine's load falls on all of them alike."""
    times = {name: [] for name in commands}
    for _ in range(repeats):
        for name, cmd in commands.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def int8_cnn(work: Path) -> Path:
    """The default image CNN as EdgeExport ships it: int8.tflite, info embedded and in int8.json."""
    import tensorflow as tf

    from edgeflow.components.edge_export.convert import convert_in_child
    from edgeflow.components.edge_export.export import write_variant
    from edgeflow.components.edge_export.tasks import classification_task, image_preprocessing
    from edgeflow.models.image.model import build_cnn
    from edgeflow.config import ExportConfig, ModelConfig

    tf.keras.utils.set_random_seed(0)
    build_cnn((16, 16, 1), 10, ModelConfig()).save(work / "model.keras")
    x = np.random.default_rng(0).random((64, 16, 16, 1)).astype(np.float32)
    np.savez(work / "train.npz", x=x, y=np.zeros(64, np.int64))
    path = convert_in_child(work / "model.keras", work / "train.npz", "int8", asdict(ExportConfig()), work / "int8.tflite")
    write_variant(path, "int8", classification_task([str(i) for i in range(10)], image_preprocessing(16, 16, 1)))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edge-cold-"))
    model = int8_cnn(work)
    embedded = work / "embedded" / "model.tflite"  # no JSON beside it
    embedded.parent.mkdir()
    shutil.copyfile(model, embedded)
    from PIL import Image
    image = work / "digit.png"
    Image.fromarray(np.full((16, 16), 200, np.uint8), mode="L").save(image)

    cli = str(Path(sys.executable).parent / "edgeflow-edge")
    py = [sys.executable, "-c"]
    read = "import numpy; from edgeflow.edge.model_file import {0}; {0}(open({1!r}, 'rb').read())"  # numpy: as in the CLI
    rows = median_seconds({
        "empty python": py + ["pass"],
        "edgeflow-edge predict, JSON beside": [cli, "predict", str(model), str(image)],
        "edgeflow-edge predict, info embedded": [cli, "predict", str(embedded), str(image)],
        "read embedded info in place": py + [read.format("read_metadata", str(model))],
        "read embedded info by unpacking": py + [read.format("read_model", str(model))],
        "import tensorflow": py + ["import edgeflow, tensorflow"],
    }, args.repeats)
    print(f"int8 CNN {model.stat().st_size} bytes; median of {args.repeats} fresh processes each, taking turns; "
          f"load average {os.getloadavg()[0]:.1f}")
    cold = rows["edgeflow-edge predict, JSON beside"]
    for name, s in rows.items():
        print(f"{name:<38} {s:7.3f} s  {s / cold:6.2f}x cold start")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
