"""Runs each variant's conversion in a child process, so a converter crash is one clear message.

The TFLite converter and TFMOT can kill their process (a segmentation fault in the MLIR
quantizer, seen with GRU/SimpleRNN int8 in TF 2.16). Each conversion therefore runs in a
child forked from a *forkserver* that has already imported TensorFlow and TFMOT, so a child
starts in well under a second instead of re-importing TensorFlow, and a crash kills only it.

The parent passes file paths only: the Keras model (``.keras``), the training inputs
(``.npz``: ``x`` (N, ...) float32 as the Keras model is trained on, ``y`` its targets) and the output path.

One child may build several variants in turn (:func:`convert_many_in_child`): it loads the
model once. EdgeExport does that only for the variants whose conversion has not been seen to
crash (float32, float16, dynamic: no calibration, no TFMOT); a variant left unbuilt by a crashed
shared child is retried alone, so a crash still names exactly one variant. Each child writes
``<out>.seconds``, the time its variant took to build, which the progress line reports, after it
has loaded and run the file once in the device runtime (:func:`check_runs`): a file that crashes
the interpreter is then one failed variant, not a dead pipeline.
"""
from __future__ import annotations

import multiprocessing
import signal
import traceback
from pathlib import Path
from typing import Dict, Sequence, Tuple

from edgeflow.components.edge_export.variants import ConversionError

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["edgeflow", "tensorflow", "tensorflow_model_optimization",
                                         "edgeflow.components.edge_export.variants"])
    return _CONTEXT


def _child(keras_path: str, data_path: str, jobs: list, settings: dict):
    """Child body: build each (variant, out_path, error_path) in turn; an error goes to its error_path."""
    import os
    import time

    log = os.open(jobs[0][1] + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # the converter's C++ chatter
    os.dup2(log, 1)
    os.dup2(log, 2)
    error_path = jobs[0][2]
    try:
        import numpy as np
        import tensorflow as tf

        import edgeflow.models.sequence.model  # noqa: F401  registers the forecaster's layers (Holt-Winters anchor)
        from edgeflow.components.edge_export.variants import build_variant, raw_inputs

        model = tf.keras.models.load_model(keras_path, compile=False, safe_mode=False)  # our own file
        with np.load(data_path) as data:
            x, y = data["x"], data["y"]
        for variant, out_path, error_path in jobs:
            t0 = time.perf_counter()
            Path(out_path).write_bytes(build_variant(model, variant, x, y, settings))
            seconds = time.perf_counter() - t0
            Path(out_path + ".checking").touch()
            check_runs(out_path, raw_inputs(x[:1], settings.get("wrap")))  # a runtime crash kills this child only
            Path(out_path + ".checking").unlink()
            Path(out_path + ".seconds").write_text(f"{seconds:.3f}")
    except ConversionError as err:
        Path(error_path).write_text(str(err))
        raise SystemExit(3)
    except BaseException as err:  # noqa: BLE001 - report anything else in one line, traceback beside it
        Path(error_path).write_text(f"{err.__class__.__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
        Path(error_path + ".traceback").write_text(traceback.format_exc())
        raise SystemExit(4)


def check_runs(path: str, sample) -> None:
    """Loads the .tflite at `path` in the device runtime and runs it on `sample` (1, ...): the interpreter
    can abort the process on a file the converter wrote (LiteRT 2.3's XNNPACK delegate on the unrolled
    int8 forecaster: "double free or corruption"), and a child is the place to find that out."""
    from edgeflow.edge.runtime import EdgeModel

    EdgeModel(path, use_edgetpu=False).run(sample)


def _paths(out_path: Path):
    return out_path, out_path.with_suffix(".error"), Path(str(out_path) + ".log"), Path(str(out_path) + ".seconds")


def convert_many_in_child(keras_path: str | Path, data_path: str | Path, jobs: Sequence[Tuple[str, Path]],
                          settings: dict, timeout_s: int = 600) -> Dict[str, Path | ConversionError]:
    """Builds each (variant, out_path) of `jobs` in turn in one child process.

    Returns {variant: out_path, or the ConversionError that stopped it}. The child stops at the
    first failure: a variant after it is retried alone (:func:`convert_in_child`), so one crash is
    charged to the variant that caused it. `timeout_s` holds per variant.
    """
    jobs = [(v, Path(p)) for v, p in jobs]
    for _, out in jobs:
        for stale in (*_paths(out), Path(str(out) + ".checking")):
            stale.unlink(missing_ok=True)
    first_log = _paths(jobs[0][1])[2]
    proc = _context().Process(target=_child, args=(str(keras_path), str(data_path),
                                                   [(v, str(o), str(_paths(o)[1])) for v, o in jobs], settings),
                              daemon=True)
    proc.start()
    proc.join(timeout_s * len(jobs))
    timed_out = proc.is_alive()
    if timed_out:
        proc.kill()
        proc.join()
    results: Dict[str, Path | ConversionError] = {}
    for i, (variant, out) in enumerate(jobs):
        _, error_path, _, seconds = _paths(out)
        if out.is_file() and seconds.is_file():
            results[variant] = out
            continue
        if timed_out:
            err = ConversionError(f"variant {variant}: conversion took longer than {timeout_s}s and was stopped; "
                                  "raise export.timeout_s or drop the variant")
        elif error_path.is_file():
            err = ConversionError(f"variant {variant}: {error_path.read_text().strip()}")
        elif Path(str(out) + ".checking").is_file():
            Path(str(out) + ".checking").unlink()
            out.unlink(missing_ok=True)
            err = ConversionError(f"variant {variant}: the converted file crashed the TFLite runtime as it loaded or "
                                  f"ran it ({_how(proc.exitcode)}); drop this variant from export.variants or "
                                  "simplify the model")
        else:
            err = ConversionError(f"variant {variant}: the converter process crashed ({_how(proc.exitcode)}; its output is in "
                                  f"{first_log}); drop this variant from export.variants or simplify the model")
        results[variant] = err
        for later, later_out in jobs[i + 1:]:  # never started: each gets a child of its own
            try:
                results[later] = convert_in_child(keras_path, data_path, later, settings, later_out, timeout_s)
            except ConversionError as later_err:
                results[later] = later_err
        break
    if all(isinstance(r, Path) for r in results.values()):
        first_log.unlink(missing_ok=True)  # kept only when a conversion failed
    return results


def _how(code) -> str:
    return f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"


def convert_in_child(keras_path: str | Path, data_path: str | Path, variant: str, settings: dict,
                     out_path: str | Path, timeout_s: int = 600) -> Path:
    """Builds `variant` in a child process of its own; returns `out_path` or raises ConversionError."""
    result = convert_many_in_child(keras_path, data_path, [(variant, Path(out_path))], settings, timeout_s)[variant]
    if isinstance(result, ConversionError):
        raise result
    return result


def build_seconds(out_path: str | Path) -> float:
    """How long the child took to build the variant at `out_path` (0 when unknown)."""
    path = _paths(Path(out_path))[3]
    return float(path.read_text()) if path.is_file() else 0.0
