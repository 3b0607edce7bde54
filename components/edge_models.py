"""From a trained Keras model and its transformed examples to measured .tflite files (no TFX here).

:func:`export_edge_models` writes into `out_dir`:

* ``<variant>.tflite`` for each configured variant, with the model info JSON embedded as
  TFLite metadata (entry ``edgeflow_info``), and the same JSON beside it as ``<variant>.json``;
* ``model.tflite`` / ``model.json``: a copy of the variant the policy ships (if one qualifies);
* ``report.json``: every measurement, the Keras reference, the choice and the reasons.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np

from edgeflow.components.edge_convert import convert_in_child
from edgeflow.components.edge_report import choose_variant, format_table, keras_reference, measure_variant
from edgeflow.components.edge_variants import ConversionError
from edgeflow.components.image_folder import LABEL_KEY
from edgeflow.edge.model_file import embed_metadata
from edgeflow.edge.runtime import EdgeModel
from edgeflow.models.image_transform import IMAGE_FEATURE
from edgeflow.pipelines.config import ExportConfig

log = logging.getLogger("edgeflow")


def load_transformed_split(split_dir: str, input_shape: Sequence[int], limit: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Transformed tf.Example files of one split -> x (N, H, W, C) float32, y (N,) int64."""
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(split_dir, "*"))
    spec = {IMAGE_FEATURE: tf.io.FixedLenFeature(list(input_shape), tf.float32),
            LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").map(lambda s: tf.io.parse_single_example(s, spec))
    if limit:
        ds = ds.take(limit)
    xs, ys = [], []
    for ex in ds.as_numpy_iterator():
        xs.append(ex[IMAGE_FEATURE])
        ys.append(ex[LABEL_KEY])
    if not xs:
        return np.zeros((0, *input_shape), np.float32), np.zeros((0,), np.int64)
    return np.stack(xs).astype(np.float32), np.array(ys, np.int64)


def model_info(path: Path, variant: str, labels: Sequence[str]) -> dict:
    """What a device needs to use the .tflite at `path`: labels, input normalization, output meaning."""
    m = EdgeModel(path, use_edgetpu=False)
    (in_scale, in_zero), (out_scale, out_zero) = m.input["quantization"], m.output["quantization"]
    _, h, w, c = m.input_shape
    return {
        "format": "edgeflow.edge/1", "task": "classification", "variant": variant, "labels": list(labels),
        "input": {"name": m.input["name"], "shape": list(m.input_shape), "dtype": np.dtype(m.input["dtype"]).name,
                  "scale": float(in_scale), "zero_point": int(in_zero),
                  "preprocessing": f"decode, convert to {'grayscale' if c == 1 else 'RGB'}, resize to {h}x{w} "
                                   "(bilinear), divide pixels by 255 to [0, 1]; for an int8 input, "
                                   "q = round(x / scale) + zero_point"},
        "output": {"name": m.output["name"], "shape": [int(d) for d in m.output["shape"]],
                   "dtype": np.dtype(m.output["dtype"]).name, "scale": float(out_scale),
                   "zero_point": int(out_zero),
                   "meaning": "class probabilities (softmax) in the order of labels; for an int8 output, "
                              "p = (q - zero_point) * scale"},
    }


def write_variant(tflite: Path, variant: str, labels: Sequence[str]) -> dict:
    """Embeds the model info into `tflite` and writes it beside it as JSON; returns it."""
    info = model_info(tflite, variant, labels)
    tflite.write_bytes(embed_metadata(tflite.read_bytes(), info))
    tflite.with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info


def export_edge_models(keras_path: str | Path, train_dir: str, eval_dir: str, labels: Sequence[str],
                       cfg: ExportConfig, out_dir: str | Path, seed: int = 42) -> dict:
    """Builds, measures and writes every configured variant; returns the report (also report.json)."""
    import tensorflow as tf

    out, work = Path(out_dir), Path(out_dir) / "work"
    work.mkdir(parents=True, exist_ok=True)
    model = tf.keras.models.load_model(str(keras_path), compile=False)
    shape = tuple(model.input_shape[1:])
    x_train, y_train = load_transformed_split(train_dir, shape)
    x_eval, y_eval = load_transformed_split(eval_dir, shape)
    if len(x_eval) == 0:
        raise ConversionError(f"the eval split at {eval_dir} has no examples; the variants cannot be measured")
    np.savez(work / "train.npz", x=x_train, y=y_train)
    settings = {**asdict(cfg), "seed": seed}
    keras = keras_reference(model, x_eval, y_eval, cfg.latency_runs)
    rows: dict = {}
    for variant in cfg.variant_names:
        path = out / f"{variant}.tflite"
        try:
            convert_in_child(keras_path, work / "train.npz", variant,
                             settings, path, cfg.timeout_s)
            write_variant(path, variant, labels)
            rows[variant] = measure_variant(path, x_eval, y_eval, keras, cfg.latency_runs)
        except ConversionError as err:
            log.warning("  edge: %s", err)
            rows[variant] = {"error": str(err)}
    shipped = choose_variant(rows, cfg.target, cfg.max_accuracy_drop)
    report = {"keras": {"accuracy": keras["accuracy"], "latency_ms": keras["latency_ms"]},
              "eval_examples": int(len(x_eval)), "train_examples": int(len(x_train)), "variants": rows,
              "policy": {"target": cfg.target, "max_accuracy_drop": cfg.max_accuracy_drop}, "shipped": shipped}
    if shipped:
        shutil.copyfile(out / f"{shipped}.tflite", out / "model.tflite")
        shutil.copyfile(out / f"{shipped}.json", out / "model.json")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    for line in format_table(report):
        log.info("  %s", line)
    log.info("  edge: shipping %s", f"{shipped} ({out / 'model.tflite'})" if shipped else
             f"nothing: no variant is within {cfg.max_accuracy_drop:.3f} of Keras accuracy for target {cfg.target}")
    return report
