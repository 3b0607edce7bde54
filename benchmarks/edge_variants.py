"""Edge variants of the digits CNN, side by side in one run.

Trains the default image CNN (2 blocks, 32 filters, 16x16 inputs) on scikit-learn's digits,
builds every TFLite variant through the same child-process converter EdgeExport uses, and
prints per variant: size ratio to float32, accuracy change (points) against Keras, and
single-input latency ratio to float32 TFLite and to the Keras model (a tf.function call).
Then the device runtime's cold start (process start to first prediction, no TensorFlow)
against the time a process needs just to import TensorFlow.

    .venv/bin/python benchmarks/edge_variants.py [--epochs 10] [--runs 200]
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


def main():
    import tensorflow as tf

    from edgeflow.components.edge_convert import convert_in_child
    from edgeflow.components.edge_models import write_variant
    from edgeflow.components.edge_report import keras_reference, measure_variant
    from edgeflow.models.cnn import build_cnn
    from edgeflow.pipelines.config import ExportConfig, ModelConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()

    tf.keras.utils.set_random_seed(0)
    x, y, xe, ye = digits_16()
    model = build_cnn((16, 16, 1), 10, ModelConfig())
    model.compile(optimizer=tf.keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    model.save(work / "model.keras")
    np.savez(work / "train.npz", x=x, y=y)
    settings = asdict(ExportConfig())
    keras = keras_reference(model, xe, ye, args.runs)
    rows = {}
    for v in VARIANTS:
        path = convert_in_child(work / "model.keras", work / "train.npz", v, settings, work / f"{v}.tflite")
        write_variant(path, v, [str(i) for i in range(10)])
        rows[v] = measure_variant(path, xe, ye, keras, args.runs)

    f32 = rows["float32"]
    print(f"digits CNN {model.count_params()} params, {len(xe)} eval images; Keras accuracy {keras['accuracy']:.4f}, "
          f"Keras p50 {keras['latency_ms']['p50']:.3f} ms")
    print(f"{'variant':<15} {'bytes':>8} {'size/f32':>8} {'gzip/f32':>8} {'acc':>7} {'d pts':>6} "
          f"{'p50 ms':>7} {'lat/f32':>7} {'lat/keras':>9} {'p50 all':>7} {'EdgeTPU':>7}")
    for v, r in rows.items():
        p50 = r["latency_ms_1_thread"]["p50"]
        print(f"{v:<15} {r['size_bytes']:>8} {r['size_bytes'] / f32['size_bytes']:>8.3f} "
              f"{r['gzip_bytes'] / f32['gzip_bytes']:>8.3f} {r['accuracy']:>7.4f} {r['accuracy_change_points']:>+6.2f} "
              f"{p50:>7.3f} {p50 / f32['latency_ms_1_thread']['p50']:>7.2f} {p50 / keras['latency_ms']['p50']:>9.3f} "
              f"{r['latency_ms_all_threads']['p50']:>7.3f} {'yes' if r['edgetpu_compatible'] else 'no':>7}")

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
