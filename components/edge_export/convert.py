"""Runs each variant's conversion in a child process, so a converter crash is one clear message.

The TFLite converter and TFMOT can kill their process (a segmentation fault in the MLIR
quantizer, seen with GRU/SimpleRNN int8 in TF 2.16). Each conversion therefore runs in a
child forked from a *forkserver* that has already imported TensorFlow and TFMOT, so a child
starts in well under a second instead of re-importing TensorFlow, and a crash kills only it.

The parent passes file paths only: the Keras model (``.keras``), the training inputs
(``.npz``: ``x`` (N, ...) float32 as the Keras model is trained on, ``y`` its targets) and the output path.
"""
from __future__ import annotations

import multiprocessing
import signal
import traceback
from pathlib import Path

from edgeflow.components.edge_export.variants import ConversionError

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["edgeflow", "tensorflow", "tensorflow_model_optimization",
                                         "edgeflow.components.edge_export.variants"])
    return _CONTEXT


def _child(keras_path: str, data_path: str, variant: str, settings: dict, out_path: str, error_path: str):
    """Child body: build one variant and write its .tflite; any error goes to `error_path`."""
    import os

    log = os.open(out_path + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # the converter's C++ chatter
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        import numpy as np
        import tensorflow as tf

        from edgeflow.components.edge_export.variants import build_variant

        model = tf.keras.models.load_model(keras_path, compile=False, safe_mode=False)  # our own file
        with np.load(data_path) as data:
            x, y = data["x"], data["y"]
        Path(out_path).write_bytes(build_variant(model, variant, x, y, settings))
    except ConversionError as err:
        Path(error_path).write_text(str(err))
        raise SystemExit(3)
    except BaseException as err:  # noqa: BLE001 - report anything else in one line, traceback beside it
        Path(error_path).write_text(f"{err.__class__.__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
        Path(error_path + ".traceback").write_text(traceback.format_exc())
        raise SystemExit(4)


def convert_in_child(keras_path: str | Path, data_path: str | Path, variant: str, settings: dict,
                     out_path: str | Path, timeout_s: int = 600) -> Path:
    """Builds `variant` in a child process; returns `out_path` or raises ConversionError."""
    out_path = Path(out_path)
    error_path = out_path.with_suffix(".error")
    for stale in (out_path, error_path, Path(str(out_path) + ".log")):
        stale.unlink(missing_ok=True)
    proc = _context().Process(target=_child, args=(str(keras_path), str(data_path), variant, settings,
                                                   str(out_path), str(error_path)), daemon=True)
    proc.start()
    proc.join(timeout_s)
    if proc.is_alive():
        proc.kill()
        proc.join()
        raise ConversionError(f"variant {variant}: conversion took longer than {timeout_s}s and was stopped; "
                              "raise export.timeout_s or drop the variant")
    log_path = Path(str(out_path) + ".log")  # kept only when the conversion failed
    if proc.exitcode != 0 or not out_path.is_file():
        if error_path.is_file():
            raise ConversionError(f"variant {variant}: {error_path.read_text().strip()}")
        code = proc.exitcode
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
        raise ConversionError(f"variant {variant}: the converter process crashed ({how}; its output is in "
                              f"{log_path}); drop this variant from export.variants or simplify the model")
    log_path.unlink(missing_ok=True)
    return out_path
