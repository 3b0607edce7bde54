"""Measures TFLite variants against the Keras model, picks one to ship, and formats the report.

Each variant is run through the device runtime (LiteRT interpreter) on the eval split:
file size and gzipped size (pruning's zeros show only in the compressed size), the task's
metric (accuracy, MAE or mAP@0.5) and its change against the Keras model, the largest output
difference from Keras (and top-1 agreement for a classifier), whether every op computes on
integers (``integer_only``: no float op beside the QUANTIZE/DEQUANTIZE at the ends) and the Edge TPU op check
(:func:`score_variant`); then CPU latency p50/p95 with 1 thread and with all threads
(:func:`time_variant`), each timed for at most ``export.latency_budget_s`` seconds or
``export.latency_runs`` invokes, whichever comes first (at least 5 invokes).
"""
from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from edgeflow.components.edge_export.policy import acceptable
from edgeflow.components.edge_export.tasks import EdgeTask
from edgeflow.edge.bench import all_threads
from edgeflow.edge.edgetpu import check_edgetpu
from edgeflow.edge.model_file import float_ops, read_model
from edgeflow.edge.runtime import EdgeModel


MIN_TIMED_RUNS = 5


def timed(call, budget_s: float, max_runs: int, warmup: int = 3) -> dict:
    """p50/p95 milliseconds of `call()`, after `warmup` calls, for at most `budget_s` seconds or
    `max_runs` calls, whichever comes first (at least MIN_TIMED_RUNS)."""
    for _ in range(warmup):
        call()
    times, start = [], time.perf_counter()
    while len(times) < max_runs and (len(times) < MIN_TIMED_RUNS or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "runs": len(times)}


def keras_reference(model, x_eval: np.ndarray, truth, task: EdgeTask, runs: Optional[int] = None) -> dict:
    """The Keras model's outputs (N, ...) on the eval split and its task metric (with `runs`: also
    ``latency_ms`` over exactly that many single-input calls, as benchmarks/edge_variants.py reads it)."""
    outputs = model.predict(x_eval, batch_size=256, verbose=0)
    out = {"metric": task.metric(outputs, truth), "outputs": outputs}
    if runs:
        out["latency_ms"] = keras_latency(model, x_eval[:1], float("inf"), runs)
    return out


def keras_latency(model, sample: np.ndarray, budget_s: float, max_runs: int) -> dict:
    """The Keras model's single-input latency (a tf.function call on `sample` (1, ...))."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False))
    one = tf.constant(sample)
    return timed(lambda: call(one).numpy(), budget_s, max_runs)


def score_variant(path: Path, x_eval: np.ndarray, truth, task: EdgeTask, keras: dict) -> dict:
    """One report row for the .tflite at `path` (no latency yet): its outputs on `x_eval` scored with
    the task's metric, its sizes and its Edge TPU op check."""
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
        "integer_only": not float_ops(read_model(data)),  # every op on integers (an Edge TPU, a microcontroller)
    }
    if task.kind == "classification":
        row["top1_agreement"] = float((outputs.argmax(-1) == keras["outputs"].argmax(-1)).mean())
    return {**row, "edgetpu_compatible": tpu.compatible, "edgetpu": tpu.summary()}


def time_variant(path: Path, sample: np.ndarray, budget_s: float, max_runs: int) -> dict:
    """CPU latency of the .tflite at `path` on one real input `sample` (...) with 1 thread and all threads."""
    out = {}
    for key, threads in (("latency_ms_1_thread", 1), ("latency_ms_all_threads", all_threads())):
        model = EdgeModel(path, num_threads=threads)
        q = model._quantize(np.asarray(sample, np.float32)[None])  # (1, ...) in the model's input dtype
        out[key] = {**timed(lambda: model.run_one(q), budget_s, max_runs), "threads": threads}
    return out


def measure_variant(path: Path, x_eval: np.ndarray, truth, task: EdgeTask, keras: dict, runs: int) -> dict:
    """A full row (score and latency over exactly `runs` invokes), for benchmarks/edge_variants.py."""
    return {**score_variant(path, x_eval, truth, task, keras), **time_variant(path, x_eval[0], float("inf"), runs)}


def progress_line(name: str, row: dict, metric: str, seconds: float) -> str:
    """The console line for one finished variant: name, size, metric and its change, seconds."""
    if "error" in row:
        return f"  edge: {name:<15} failed in {seconds:.1f}s: {row['error']}"
    unit = "%" if metric == "mae" else ""
    change = 100 * row["degradation"] if metric == "mae" else row["metric_change"]
    return (f"  edge: {name:<15} {row['size_bytes'] / 1024:>8.1f} KB  {metric} {row[metric]:.4f} "
            f"({change:+.4f}{unit})  {seconds:.1f}s")


def choose_variant(rows: dict, target: str, max_metric_change: float) -> Optional[str]:
    """The smallest variant (by file size) whose degradation against Keras (see
    :mod:`edgeflow.components.edge_export.tasks`) is at most `max_metric_change`; with target "edgetpu",
    only variants whose every op maps to the Edge TPU. None if none qualifies."""
    ok = [(r["size_bytes"], name) for name, r in rows.items() if acceptable(r, target, max_metric_change)]
    return min(ok)[1] if ok else None


def format_table(report: dict) -> List[str]:
    """Aligned text lines: one per variant, sizes relative to float32 when it was built, whether it is
    integer-only and whether it maps to the Edge TPU."""
    rows, keras, metric = report["variants"], report["keras"], report.get("metric", "accuracy")
    base = rows.get("float32", {}).get("size_bytes")
    worse = "worse%" if metric == "mae" else "worse"  # relative MAE increase in %, else points dropped
    lines = [f"{'variant':<15} {'size':>9} {'gzip':>9} {'x f32':>6} {metric:>7} {worse:>6} "
             f"{'p50 1t':>8} {'p95 1t':>8} {'p50 all':>8} {'int-only':>8} {'EdgeTPU':>7}",
             f"{'keras':<15} {'':>9} {'':>9} {'':>6} {keras[metric]:>7.4f} {'':>6} "
             f"{keras['latency_ms']['p50']:>8.3f} {keras['latency_ms']['p95']:>8.3f} {'':>8} {'':>8} {'':>7}"]
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
            f"{'yes' if r.get('integer_only') else 'no':>8} {'yes' if r['edgetpu_compatible'] else 'no':>7}{mark}")
    return lines
