"""Peak memory of the image Trainer's fit shuffle: the old fixed 10,000-example buffer against the
byte-bounded one (models/image/trainer.py: shuffle_buffer_size, 256 MB of images).

Each buffer runs in a fresh process that streams N generated S x S x 3 float32 images (as the image
Transform emits) through ``shuffle(buffer).batch(32)`` once, and reports its peak resident memory and
wall time. Usage: python benchmarks/shuffle_memory.py [--examples 6000] [--size 128]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def child(buffer: int, n: int, size: int) -> None:
    import tensorflow as tf

    images = tf.data.Dataset.range(n).map(lambda i: (tf.random.stateless_uniform((size, size, 3), [i, 0]), i % 4))
    start, seen = time.time(), 0
    for x, _ in images.shuffle(buffer, seed=0).batch(32):
        seen += int(x.shape[0])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"buffer": buffer, "examples": seen, "seconds": round(time.time() - start, 1),
                      "peak_mb": round(peak_mb)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=6000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--child", type=int)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.child, args.examples, args.size)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from edgeflow.models.image.trainer import SHUFFLE_BUFFER, shuffle_buffer_size

    mb = args.size * args.size * 3 * 4 / 2**20
    print(f"{args.examples} images of {args.size}x{args.size}x3 float32 ({mb:.2f} MB each), load {os.getloadavg()[0]:.2f}")
    print(f"{'buffer':<26}{'examples held':>14}{'peak RSS MB':>13}{'seconds':>9}")
    for name, buffer in (("fixed (before)", SHUFFLE_BUFFER), ("by bytes, 256 MB (after)", shuffle_buffer_size((args.size, args.size, 3)))):
        out = subprocess.run([sys.executable, __file__, "--child", str(buffer), "--examples", str(args.examples),
                              "--size", str(args.size)], capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"{name:<26}{min(buffer, args.examples):>14}{row['peak_mb']:>13}{row['seconds']:>9}")


if __name__ == "__main__":
    main()
