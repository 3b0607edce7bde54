"""Peak memory of reading a split whole (read_split) against a bounded seeded sample (sample_split).

Writes N transformed image examples (S x S x 3 float32, as the image Transform emits) into a GZIP
TFRecord split, then reads it in two fresh processes, each reporting its peak resident memory and
wall time. Usage: python benchmarks/split_memory.py [--examples 20000] [--size 32] [--sample 2000]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write(folder, n, size):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "part-0.gz"), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for i in range(n):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                "image_xf": tf.train.Feature(float_list=tf.train.FloatList(value=rng.random(size * size * 3))),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 4]))})).SerializeToString())


def read(folder, size, sample):
    import tensorflow as tf

    from edgeflow.models.splits import read_split, sample_split

    spec = {"image_xf": tf.io.FixedLenFeature([size, size, 3], tf.float32), "label": tf.io.FixedLenFeature([], tf.int64)}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    rows = sample_split(folder, spec, sample)[0] if sample else read_split(folder, spec)
    print(json.dumps({"rows": len(rows["label"]), "seconds": time.perf_counter() - start,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_before_read_mb": before / 1024}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=20000)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--sample", type=int, default=2000)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return read(a.child[0], int(a.child[1]), int(a.child[2]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "Split-train")
        write(folder, a.examples, a.size)
        mb = a.examples * a.size * a.size * 3 * 4 / 2 ** 20
        print(f"{a.examples} examples of {a.size}x{a.size}x3 float32 ({mb:.0f} MB as arrays)")
        results = {}
        for name, k in (("read_split (whole split)", 0), (f"sample_split (k={a.sample})", a.sample)):
            out = subprocess.run([sys.executable, __file__, "--child", folder, str(a.size), str(k)],
                                 capture_output=True, text=True, check=True).stdout
            results[name] = json.loads(out.strip().splitlines()[-1])
        print("| reader | rows | peak RSS MB | of which the read MB | seconds |\n|---|---|---|---|---|")
        for name, r in results.items():
            print(f"| {name} | {r['rows']} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['peak_before_read_mb']:.0f} "
                  f"| {r['seconds']:.1f} |")
        whole, sampled = results.values()
        print(f"peak RSS ratio sample/whole: {sampled['peak_mb'] / whole['peak_mb']:.2f}; "
              f"time ratio: {sampled['seconds'] / whole['seconds']:.2f}")


if __name__ == "__main__":
    main()
