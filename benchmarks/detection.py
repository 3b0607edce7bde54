"""Detection benchmark: one `edgeflow run detection` on the generated digit set, then the pushed model.

Prints mAP@0.5 and mAP@0.5:0.95 (eval split, pycocotools), training time, and the SavedModel's
latency per image measured side by side in this run: ``serving_default`` (decode + NMS in the graph)
against ``serving_raw`` (the grid only), at batch 1 and batch 32.

    .venv/bin/python benchmarks/detection.py [--preset default] [--set KEY=VALUE ...]
"""
import argparse
import io
import tempfile
import time

import edgeflow  # noqa: F401 - environment first

import numpy as np


def latency_ms(fn, batch, repeats: int) -> float:
    fn(image_bytes=batch)  # warm-up: traces and allocates
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(image_bytes=batch)
    return (time.perf_counter() - t0) / repeats / int(batch.shape[0]) * 1000


def main():
    import tensorflow as tf
    from PIL import Image
    from sklearn.datasets import load_digits

    from edgeflow.config import load_config
    from edgeflow.pipelines.bundled.canvases import make_canvas
    from edgeflow.pipelines.runner import run_pipeline

    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="default")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    out = tempfile.mkdtemp(prefix="edgeflow-detection-bench-")
    cfg = load_config("detection", args.preset, overrides=args.overrides,
                      updates={"output": out, "tracking": {"enabled": False}})
    outcome = run_pipeline(cfg)
    r = outcome.results
    train_s = sum(row["seconds"] for row in r.history)

    digits = load_digits()
    rng = np.random.default_rng(7)
    encoded = []
    for _ in range(32):
        buf = io.BytesIO()
        Image.fromarray(make_canvas(rng, digits.images, digits.target, cfg.detection.at_size(64))[0], mode="L").save(buf, "PNG")
        encoded.append(buf.getvalue())
    model = tf.saved_model.load(r.pushed_path or r.model_uri + "/Format-Serving")
    one, many = tf.constant(encoded[:1]), tf.constant(encoded)
    lat = {(name, b): latency_ms(model.signatures[name], batch, 50 if b == 1 else 10)
           for name in ("serving_default", "serving_raw") for b, batch in ((1, one), (32, many))}

    d = cfg.detection
    print(f"\n== detection benchmark (preset {args.preset}, {d.num_images} images {d.image_size}x{d.image_size}, "
          f"grid {d.grid}x{d.grid}x{d.num_anchors}, CPU threads as given)")
    print(f"examples        train {r.example_counts.get('train')}  eval {r.example_counts.get('eval')}")
    print(f"mAP@0.5         {r.metrics.get('map50', float('nan')):.4f}   (blessed: {r.blessed})")
    print(f"mAP@0.5:0.95    {r.metrics.get('map50_95', float('nan')):.4f}")
    print(f"training        {train_s:.0f} s over {len(r.history)} epochs ({train_s / max(len(r.history), 1):.1f} s/epoch); "
          f"whole pipeline {outcome.seconds:.0f} s")
    for b in (1, 32):
        full, raw = lat[("serving_default", b)], lat[("serving_raw", b)]
        print(f"latency b={b:<3d}   serving_default {full:.2f} ms/image   serving_raw {raw:.2f} ms/image   "
              f"NMS+decode overhead x{full / raw:.2f}")
    print(f"batching        serving_default b=32 is x{lat[('serving_default', 1)] / lat[('serving_default', 32)]:.1f} "
          "faster per image than b=1")


if __name__ == "__main__":
    main()
