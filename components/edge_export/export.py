"""From a trained Keras model and its task's data (:mod:`edgeflow.components.edge_export.data`) to measured
.tflite files (no TFX here).

:func:`export_edge_models` writes into `out_dir`:

* ``<variant>.tflite`` for each variant built (which ones: :mod:`edgeflow.components.edge_export.policy`),
  with the model info JSON embedded as TFLite metadata (entry ``edgeflow_info``) and as standard
  TFLite metadata (``TFLITE_METADATA`` and a packed ``labels.txt``), and the same JSON beside it as
  ``<variant>.json``;
* ``model.tflite`` / ``model.json``: a copy of the variant the policy ships (if one qualifies);
  with ``export.target=edgetpu`` also ``model_edgetpu.tflite`` when ``edgetpu_compiler`` is on PATH
  (:mod:`edgeflow.components.edge_export.shipment`);
* ``report.json``: every measurement, the Keras reference, the choice and the reasons.

Conversions run in parallel child processes (one per core); each variant is scored as soon as its
conversion finishes and gets one console line (name, size, metric, seconds). Latencies are timed
afterwards, one variant at a time, so a conversion running beside them does not skew them.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from edgeflow.components.edge_export.convert import build_seconds, convert_many_in_child
from edgeflow.components.edge_export.data import EdgeData
from edgeflow.components.edge_export.policy import (conversion_jobs, fine_tuning_reason, needs_fine_tuning,
                                                    wide_ptq_variants, workers)
from edgeflow.components.edge_export.report import (choose_variant, format_table, keras_latency, keras_reference,
                                                    progress_line, score_variant, time_variant)
from edgeflow.components.edge_export.shipment import edgetpu_shipment
from edgeflow.components.edge_export.tasks import EdgeTask
from edgeflow.components.edge_export.variants import ConversionError, wrap_standardization
from edgeflow.edge.runtime import EdgeModel
from edgeflow.edge.tflite_metadata import embed_model_info
from edgeflow.config import ExportConfig

log = logging.getLogger("edgeflow")


def load_keras(path: str | Path):
    """The bare Keras model the Trainer saved (our own file: Lambda layers are allowed)."""
    import tensorflow as tf

    import edgeflow.models.sequence.model  # noqa: F401  registers the forecaster's layers (Holt-Winters anchor)

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
                  "preprocessing": f"{task.preprocessing}; for an integer input, q = round(x / scale) + zero_point"},
        "output": {"name": m.output["name"], "shape": [int(d) for d in m.output["shape"]],
                   "dtype": np.dtype(m.output["dtype"]).name, "scale": float(out_scale),
                   "zero_point": int(out_zero),
                   "meaning": f"{task.meaning}; for an integer output, y = (q - zero_point) * scale"},
    }


def write_variant(tflite: Path, variant: str, task: EdgeTask) -> dict:
    """Embeds the model info into `tflite` (edgeflow's JSON entry and standard TFLite metadata with
    ``labels.txt``, :mod:`edgeflow.edge.tflite_metadata`) and writes it beside it as JSON; returns it."""
    info = model_info(tflite, variant, task)
    tflite.write_bytes(embed_model_info(tflite.read_bytes(), info))
    tflite.with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info


def _build_and_score(keras_path, train_npz: Path, jobs, settings: dict, cfg: ExportConfig, out: Path,
                     data: EdgeData, keras: dict) -> dict:
    """Runs the conversion `jobs` (tuples of variant names) in parallel children, scoring and
    printing each variant as its job finishes; returns {variant: row} in the order of `jobs`."""
    task = data.task

    def run(job):
        t0 = time.perf_counter()
        built = convert_many_in_child(keras_path, train_npz, [(v, out / f"{v}.tflite") for v in job], settings,
                                      cfg.timeout_s)
        rows = {}
        for variant, result in built.items():
            s0 = time.perf_counter()
            if isinstance(result, ConversionError):
                rows[variant] = {"error": str(result)}
                seconds = time.perf_counter() - t0
            else:
                write_variant(result, variant, task)
                rows[variant] = score_variant(result, data.x_eval, data.y_eval, task, keras)
                seconds = build_seconds(result) + time.perf_counter() - s0
                Path(str(result) + ".seconds").unlink(missing_ok=True)
            rows[variant]["seconds"] = round(seconds, 2)
            log.info(progress_line(variant, rows[variant], task.metric_name, seconds))
        return rows

    with ThreadPoolExecutor(max_workers=workers(len(jobs))) as pool:
        done = list(pool.map(run, jobs))
    rows = {k: v for part in done for k, v in part.items()}
    for row in rows.values():
        if "error" in row:
            log.warning("  edge: %s", row["error"])
    return rows


def export_edge_models(keras_path: str | Path, data: EdgeData, cfg: ExportConfig, out_dir: str | Path,
                       seed: int = 42) -> dict:
    """Builds, measures and writes the variants the policy asks for; returns the report (also report.json)."""
    out, work = Path(out_dir), Path(out_dir) / "work"
    work.mkdir(parents=True, exist_ok=True)
    if len(data.x_eval) == 0:
        raise ConversionError("the eval split has no examples; the variants cannot be measured")
    task = data.task
    model = load_keras(keras_path)
    reference = wrap_standardization(model, data.wrap) if data.wrap else model  # what the .tflite computes
    np.savez(work / "train.npz", x=data.x_train, y=data.y_train)
    settings = {**asdict(cfg), "seed": seed, "loss": data.loss, "wrap": data.wrap, "input_name": data.input_name,
                "integer_io": cfg.edgetpu_input_type if cfg.target == "edgetpu" else "int8"}
    log.info("  edge: scoring on %d of %d eval examples, fine-tuning and calibrating on %d of %d train examples "
             "(seed %d; export.max_eval_examples, export.max_train_examples)", len(data.x_eval),
             data.eval_seen or len(data.x_eval), len(data.x_train), data.train_seen or len(data.x_train), seed)
    keras = keras_reference(reference, data.x_eval, data.y_eval, task)
    rows = _build_and_score(keras_path, work / "train.npz", conversion_jobs(cfg.variant_names), settings, cfg, out,
                            data, keras)
    wide = wide_ptq_variants(rows, cfg.target, cfg.max_metric_change) if cfg.auto else ()
    if wide:  # 16-bit activations before any fine-tuning: still post-training, and one conversion
        log.info("  edge: %s; building %s", fine_tuning_reason(rows, cfg.target, cfg.max_metric_change,
                                                               task.metric_name), ", ".join(wide))
        rows.update(_build_and_score(keras_path, work / "train.npz", conversion_jobs(wide), settings, cfg, out,
                                     data, keras))
    fine_tuned = None
    if cfg.fallback_names and needs_fine_tuning(rows, cfg.target, cfg.max_metric_change):
        fine_tuned = fine_tuning_reason(rows, cfg.target, cfg.max_metric_change, task.metric_name)
        log.info("  edge: %s; building %s", fine_tuned, ", ".join(cfg.fallback_names))
        rows.update(_build_and_score(keras_path, work / "train.npz", conversion_jobs(cfg.fallback_names), settings,
                                     cfg, out, data, keras))
    for name, row in rows.items():  # one variant at a time, nothing converting beside it
        if "error" not in row:
            row.update(time_variant(out / f"{name}.tflite", data.x_eval[0], cfg.latency_budget_s, cfg.latency_runs))
    keras_ms = keras_latency(reference, data.x_eval[:1], cfg.latency_budget_s, cfg.latency_runs)
    shipped = choose_variant(rows, cfg.target, cfg.max_metric_change)
    report = {"task": task.kind, "metric": task.metric_name,
              "keras": {task.metric_name: keras["metric"], "latency_ms": keras_ms},
              "eval_examples": int(len(data.x_eval)), "train_examples": int(len(data.x_train)),
              "eval_split_examples": data.eval_seen or int(len(data.x_eval)),
              "train_split_examples": data.train_seen or int(len(data.x_train)), "sample_seed": seed,
              "variants": rows,
              "policy": {"variants": cfg.variants, "target": cfg.target, "max_metric_change": cfg.max_metric_change,
                         "wide_ptq": list(wide), "fine_tuned_because": fine_tuned,
                         "degradation": ("relative MAE increase" if task.metric_name == "mae"
                                         else f"{task.metric_name} drop")},
              "shipped": shipped}
    if shipped:
        shutil.copyfile(out / f"{shipped}.tflite", out / "model.tflite")
        shutil.copyfile(out / f"{shipped}.json", out / "model.json")
        if cfg.target == "edgetpu":
            report["edgetpu"] = edgetpu_shipment(out / "model.tflite", cfg.edgetpu_input_type)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    for line in format_table(report):
        log.info("  %s", line)
    log.info("  edge: shipping %s", f"{shipped} ({out / 'model.tflite'})" if shipped else
             f"nothing: no variant is within export.max_metric_change={cfg.max_metric_change} of the Keras "
             f"{task.metric_name} for target {cfg.target}")
    if "edgetpu" in report:
        log.info("  edge: %s", report["edgetpu"]["message"])
    return report
