"""From a trained Keras model and its task's data (:mod:`edgeflow.components.edge_export.data`) to measured
.tflite files (no TFX here).

:func:`export_edge_models` writes into `out_dir`:

* ``<variant>.tflite`` for each configured variant, with the model info JSON embedded as
  TFLite metadata (entry ``edgeflow_info``), and the same JSON beside it as ``<variant>.json``;
* ``model.tflite`` / ``model.json``: a copy of the variant the policy ships (if one qualifies);
* ``report.json``: every measurement, the Keras reference, the choice and the reasons.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from edgeflow.components.edge_export.convert import convert_in_child
from edgeflow.components.edge_export.data import EdgeData
from edgeflow.components.edge_export.report import choose_variant, format_table, keras_reference, measure_variant
from edgeflow.components.edge_export.tasks import EdgeTask
from edgeflow.components.edge_export.variants import ConversionError, wrap_standardization
from edgeflow.edge.model_file import embed_metadata
from edgeflow.edge.runtime import EdgeModel
from edgeflow.config import ExportConfig

log = logging.getLogger("edgeflow")


def load_keras(path: str | Path):
    """The bare Keras model the Trainer saved (our own file: Lambda layers are allowed)."""
    import tensorflow as tf

    return tf.keras.models.load_model(str(path), compile=False, safe_mode=False)


def model_info(path: Path, variant: str, task: EdgeTask) -> dict:
    """What a device needs to use the .tflite at `path`: the task's section (labels, forecast or
    detection settings), the input's shape, dtype, quantization and preprocessing, the output's meaning."""
    m = EdgeModel(path, use_edgetpu=False)
    (in_scale, in_zero), (out_scale, out_zero) = m.input["quantization"], m.output["quantization"]
    return {
        "format": "edgeflow.edge/1", "task": task.kind, "variant": variant, **task.info,
        "input": {"name": m.input["name"], "shape": list(m.input_shape), "dtype": np.dtype(m.input["dtype"]).name,
                  "scale": float(in_scale), "zero_point": int(in_zero),
                  "preprocessing": f"{task.preprocessing}; for an int8 input, q = round(x / scale) + zero_point"},
        "output": {"name": m.output["name"], "shape": [int(d) for d in m.output["shape"]],
                   "dtype": np.dtype(m.output["dtype"]).name, "scale": float(out_scale),
                   "zero_point": int(out_zero),
                   "meaning": f"{task.meaning}; for an int8 output, y = (q - zero_point) * scale"},
    }


def write_variant(tflite: Path, variant: str, task: EdgeTask) -> dict:
    """Embeds the model info into `tflite` and writes it beside it as JSON; returns it."""
    info = model_info(tflite, variant, task)
    tflite.write_bytes(embed_metadata(tflite.read_bytes(), info))
    tflite.with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info


def export_edge_models(keras_path: str | Path, data: EdgeData, cfg: ExportConfig, out_dir: str | Path,
                       seed: int = 42) -> dict:
    """Builds, measures and writes every configured variant; returns the report (also report.json)."""
    out, work = Path(out_dir), Path(out_dir) / "work"
    work.mkdir(parents=True, exist_ok=True)
    if len(data.x_eval) == 0:
        raise ConversionError("the eval split has no examples; the variants cannot be measured")
    task = data.task
    model = load_keras(keras_path)
    reference = wrap_standardization(model, data.wrap) if data.wrap else model  # what the .tflite computes
    np.savez(work / "train.npz", x=data.x_train, y=data.y_train)
    settings = {**asdict(cfg), "seed": seed, "loss": data.loss, "wrap": data.wrap, "input_name": data.input_name}
    keras = keras_reference(reference, data.x_eval, data.y_eval, task, cfg.latency_runs)
    rows: dict = {}
    for variant in cfg.variant_names:
        path = out / f"{variant}.tflite"
        try:
            convert_in_child(keras_path, work / "train.npz", variant, settings, path, cfg.timeout_s)
            write_variant(path, variant, task)
            rows[variant] = measure_variant(path, data.x_eval, data.y_eval, task, keras, cfg.latency_runs)
        except ConversionError as err:
            log.warning("  edge: %s", err)
            rows[variant] = {"error": str(err)}
    shipped = choose_variant(rows, cfg.target, cfg.max_metric_change)
    report = {"task": task.kind, "metric": task.metric_name,
              "keras": {task.metric_name: keras["metric"], "latency_ms": keras["latency_ms"]},
              "eval_examples": int(len(data.x_eval)), "train_examples": int(len(data.x_train)), "variants": rows,
              "policy": {"target": cfg.target, "max_metric_change": cfg.max_metric_change,
                         "degradation": ("relative MAE increase" if task.metric_name == "mae"
                                         else f"{task.metric_name} drop")},
              "shipped": shipped}
    if shipped:
        shutil.copyfile(out / f"{shipped}.tflite", out / "model.tflite")
        shutil.copyfile(out / f"{shipped}.json", out / "model.json")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    for line in format_table(report):
        log.info("  %s", line)
    log.info("  edge: shipping %s", f"{shipped} ({out / 'model.tflite'})" if shipped else
             f"nothing: no variant is within export.max_metric_change={cfg.max_metric_change} of the Keras "
             f"{task.metric_name} for target {cfg.target}")
    return report
