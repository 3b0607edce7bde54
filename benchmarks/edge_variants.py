"""Edge variants side by side in one run: the digits CNN, or the YOLO detector / RNN forecaster.

``--model digits`` (default) trains the default image CNN (2 blocks, 32 filters, 16x16 inputs) on
scikit-learn's digits, builds every TFLite variant through the same child-process converter
EdgeExport uses, and prints per variant: size ratio to float32, accuracy change (points) against
Keras, and single-input latency ratio to float32 TFLite and to the Keras model (a tf.function call).
Then the device runtime's cold start (process start to first prediction, no TensorFlow) against
the time a process needs just to import TensorFlow.

``--model yolo`` / ``--model forecast`` run the detection / sequence (forecast) pipeline with
every variant in ``export.variants`` and print the same table from EdgeExport's report
(metric: mAP@0.5 in points, or MAE change in % of the Keras MAE).

    .venv/bin/python benchmarks/edge_variants.py [--model digits|yolo|forecast] [--epochs 10] [--runs 200]
"""
import edgeflow  # noqa: F401

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

VARIANTS = ("float32", "float16", "dynamic", "int8", "qat_int8", "pruned_int8", "clustered_int8",
            "pqat_int8", "cqat_int8")


def digits_16():
    """Digits resized to 16x16 in [0, 1], split 80/20: x (N, 16, 16, 1), y (N,)."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    d = load_digits()
    x = tf.image.resize((d.images / 16.0).astype(np.float32)[..., None], [16, 16]).numpy()
    n = int(0.8 * len(x))
    return x[:n], d.target[:n], x[n:], d.target[n:]


def process_seconds(code: str, repeats: int = 3) -> float:
    """Median wall time of `python -c code`, process start to exit."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def print_table(title: str, rows: dict, keras: dict, metric: str) -> None:
    """Per variant: size and gzip ratio to float32, metric and its change, latency ratios to float32 and Keras."""
    f32 = rows["float32"]
    change = "d %" if metric == "mae" else "d pts"
    print(f"{title}; Keras {metric} {keras[metric]:.4f}, Keras p50 {keras['latency_ms']['p50']:.3f} ms")
    print(f"{'variant':<15} {'bytes':>8} {'size/f32':>8} {'gzip/f32':>8} {metric:>7} {change:>7} "
          f"{'p50 ms':>7} {'lat/f32':>7} {'lat/keras':>9} {'p50 all':>7} {'EdgeTPU':>7}")
    for v, r in rows.items():
        if "error" in r:
            print(f"{v:<15} skipped: {r['error']}")
            continue
        p50 = r["latency_ms_1_thread"]["p50"]
        delta = 100 * (r["metric_change"] / keras[metric] if metric == "mae" else r["metric_change"])
        print(f"{v:<15} {r['size_bytes']:>8} {r['size_bytes'] / f32['size_bytes']:>8.3f} "
              f"{r['gzip_bytes'] / f32['gzip_bytes']:>8.3f} {r[metric]:>7.4f} {delta:>+7.2f} "
              f"{p50:>7.3f} {p50 / f32['latency_ms_1_thread']['p50']:>7.2f} {p50 / keras['latency_ms']['p50']:>9.3f} "
              f"{r['latency_ms_all_threads']['p50']:>7.3f} {'yes' if r['edgetpu_compatible'] else 'no':>7}")


def pipeline_variants(pipeline: str, overrides, runs: int) -> None:
    """Runs `pipeline` (tiny preset, no tracking) with every variant and prints EdgeExport's report."""
    import json

    from edgeflow.config import load_config
    from edgeflow.pipelines.runner import run_pipeline

    out = tempfile.mkdtemp(prefix=f"edge-bench-{pipeline}-")
    cfg = load_config(pipeline, "tiny", overrides=[f"export.variants={','.join(VARIANTS)}",
                                                   f"export.latency_runs={runs}", *overrides],
                      updates={"output": out, "tracking": {"enabled": False}})
    outcome = run_pipeline(cfg)
    reports = sorted(cfg.pipeline_root.glob("EdgeExport/edge_models/*/report.json"))
    if not reports:
        raise SystemExit(f"the {pipeline} model was not blessed (blessed={outcome.results.blessed}), nothing exported")
    report = json.loads(reports[-1].read_text())
    print_table(f"{pipeline} ({' '.join(overrides)}), {report['eval_examples']} eval examples",
                report["variants"], report["keras"], report["metric"])


def main():
    import tensorflow as tf

    from edgeflow.components.edge_export.convert import convert_in_child
    from edgeflow.components.edge_export.export import write_variant
    from edgeflow.components.edge_export.report import keras_reference, measure_variant
    from edgeflow.components.edge_export.tasks import classification_task
    from edgeflow.models.image.model import build_cnn
    from edgeflow.config import ExportConfig, ModelConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("digits", "yolo", "forecast"), default="digits")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    if args.model == "yolo":
        return pipeline_variants("detection", ["train.epochs=40", "train.early_stopping_patience=8"], args.runs)
    if args.model == "forecast":
        return pipeline_variants("sequence", ["sequence.task=forecast", "sequence.limit=900"], args.runs)

    tf.keras.utils.set_random_seed(0)
    x, y, xe, ye = digits_16()
    model = build_cnn((16, 16, 1), 10, ModelConfig())
    model.compile(optimizer=tf.keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    model.save(work / "model.keras")
    np.savez(work / "train.npz", x=x, y=y)
    settings = asdict(ExportConfig())
    task = classification_task([str(i) for i in range(10)], "16x16 grayscale in [0, 1]")
    keras = keras_reference(model, xe, ye, task, args.runs)
    rows = {}
    for v in VARIANTS:
        path = convert_in_child(work / "model.keras", work / "train.npz", v, settings, work / f"{v}.tflite")
        write_variant(path, v, task)
        rows[v] = measure_variant(path, xe, ye, task, keras, args.runs)
    keras["accuracy"] = keras["metric"]
    print_table(f"digits CNN {model.count_params()} params, {len(xe)} eval images", rows, keras, "accuracy")

    image = work / "digit.png"
    from PIL import Image
    Image.fromarray((xe[0, ..., 0] * 255).astype(np.uint8), mode="L").save(image)
    cold = process_seconds(f"from edgeflow.edge.cli import main; main(['predict', {str(work / 'int8.tflite')!r}, {str(image)!r}])")
    tf_import = process_seconds("import edgeflow, tensorflow")
    bare = process_seconds("pass")
    print(f"device runtime cold start (process start -> first prediction, int8): {cold:.3f} s; "
          f"import tensorflow alone: {tf_import:.3f} s ({tf_import / cold:.1f}x); empty python: {bare:.3f} s")


if __name__ == "__main__":
    main()
