"""Measures TFLite variants against the Keras model, picks one to ship, and formats the report.

Each variant is run through the device runtime (LiteRT interpreter) on the eval split:
file size and gzipped size (pruning's zeros show only in the compressed size), the task's
metric (accuracy, MAE or mAP@0.5) and its change against the Keras model, the largest output
difference from Keras (and top-1 agreement for a classifier), and CPU latency p50/p95 with
1 thread and with all threads.
"""
from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from edgeflow.components.edge_export.tasks import EdgeTask
from edgeflow.edge.bench import all_threads, latency_ms
from edgeflow.edge.edgetpu import check_edgetpu
from edgeflow.edge.runtime import EdgeModel


def keras_reference(model, x_eval: np.ndarray, truth, task: EdgeTask, runs: int) -> dict:
    """The Keras model's outputs (N, ...), its task metric and its single-input latency (a tf.function call)."""
    import tensorflow as tf

    outputs = model.predict(x_eval, batch_size=256, verbose=0)
    call = tf.function(lambda x: model(x, training=False))
    one = tf.constant(x_eval[:1])
    for _ in range(3):
        call(one)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call(one).numpy()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"metric": task.metric(outputs, truth), "outputs": outputs,
            "latency_ms": {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}}


def measure_variant(path: Path, x_eval: np.ndarray, truth, task: EdgeTask, keras: dict, runs: int) -> dict:
    """One report row for the .tflite at `path`: its outputs on `x_eval` scored with the task's metric."""
    data = path.read_bytes()
    outputs = EdgeModel(path).run(x_eval)
    metric = task.metric(outputs, truth)
    tpu = check_edgetpu(path, compile_with=None)
    row = {
        "file": path.name,
        "size_bytes": len(data),
        "gzip_bytes": len(gzip.compress(data, 9)),
        task.metric_name: metric,
        "metric_change": metric - keras["metric"],
        "degradation": task.degradation(metric, keras["metric"]),
        "max_abs_output_diff": float(np.abs(outputs - keras["outputs"]).max()),
    }
    if task.kind == "classification":
        row["top1_agreement"] = float((outputs.argmax(-1) == keras["outputs"].argmax(-1)).mean())
    return {**row,
            "latency_ms_1_thread": latency_ms(path, 1, runs, sample=x_eval[0]),
            "latency_ms_all_threads": latency_ms(path, all_threads(), runs, sample=x_eval[0]),
            "edgetpu_compatible": tpu.compatible,
            "edgetpu": tpu.summary()}


def choose_variant(rows: dict, target: str, max_metric_change: float) -> Optional[str]:
    """The smallest variant (by file size) whose degradation against Keras (see
    :mod:`edgeflow.components.edge_export.tasks`) is at most `max_metric_change`; with target "edgetpu",
    only variants whose every op maps to the Edge TPU. None if none qualifies."""
    ok = [(r["size_bytes"], name) for name, r in rows.items()
          if "error" not in r and r["degradation"] <= max_metric_change + 1e-9
          and (target != "edgetpu" or r["edgetpu_compatible"])]
    return min(ok)[1] if ok else None


def format_table(report: dict) -> List[str]:
    """Aligned text lines: one per variant, sizes relative to float32 when it was built."""
    rows, keras, metric = report["variants"], report["keras"], report.get("metric", "accuracy")
    base = rows.get("float32", {}).get("size_bytes")
    worse = "worse%" if metric == "mae" else "worse"  # relative MAE increase in %, else points dropped
    lines = [f"{'variant':<15} {'size':>9} {'gzip':>9} {'x f32':>6} {metric:>7} {worse:>6} "
             f"{'p50 1t':>8} {'p95 1t':>8} {'p50 all':>8} {'EdgeTPU':>7}",
             f"{'keras':<15} {'':>9} {'':>9} {'':>6} {keras[metric]:>7.4f} {'':>6} "
             f"{keras['latency_ms']['p50']:>8.3f} {keras['latency_ms']['p95']:>8.3f} {'':>8} {'':>7}"]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"{name:<15} failed: {r['error']}")
            continue
        ratio = f"{r['size_bytes'] / base:.2f}" if base else "-"
        mark = " <- shipped" if name == report.get("shipped") else ""
        lines.append(
            f"{name:<15} {r['size_bytes']:>9} {r['gzip_bytes']:>9} {ratio:>6} {r[metric]:>7.4f} "
            f"{100 * r['degradation']:>+6.2f} {r['latency_ms_1_thread']['p50']:>8.3f} "
            f"{r['latency_ms_1_thread']['p95']:>8.3f} {r['latency_ms_all_threads']['p50']:>8.3f} "
            f"{'yes' if r['edgetpu_compatible'] else 'no':>7}{mark}")
    return lines
