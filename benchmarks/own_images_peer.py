"""The default ``edgeflow run image`` beside a plain Keras notebook on the same folder and split (issue #16, item 5).

    .venv/bin/python benchmarks/own_images_peer.py [--out DIR] [--per-class 150] [--peer-epochs 10]
                                                   [--kind shapes|arrows] [--seed 16] [--set KEY=VALUE]
                                                   [--peer-long EPOCHS]
                                                   [--backbone mobilenet_v2 [--backbone-epochs N]]

The folder is benchmarks/own_images.py's (4 shapes on noisy colour backgrounds, 24-64 px, JPEG + PNG,
seed 16). Both sides see the same split: edgeflow's ExampleGen puts ``<class>/<file>`` in eval when
sha256(key) % (train_buckets + eval_buckets) >= train_buckets, the key being the serialized tf.train.Feature
of the path (4:1 by default, TFX's hash split on ``partition_feature_name``); this script computes the same
and checks the counts against the pipeline's.

* edgeflow: ``edgeflow run image --data FOLDER --set export.enabled=false`` (no other setting; EdgeExport
  off so the seconds compare training) in a fresh output folder; its eval accuracy is TFMA's on the eval split.
* peer: the TensorFlow "Image classification" tutorial as a user would paste it into a notebook:
  ``keras.utils.image_dataset_from_directory`` on the train files (image_size 32x32, the size edgeflow
  chooses here, so the inputs match), Rescaling(1/255), three Conv2D(16/32/64)+MaxPool blocks, Dense(128),
  Adam(1e-3), ``--peer-epochs`` epochs, no augmentation, no early stopping; accuracy on the eval files.
  It runs in its own process, so both sides' seconds include starting Python and TensorFlow.
* ``--also KEY=VALUE`` (repeatable): one more edgeflow run with those ``--set`` values.
* ``--backbone NAME``: also ``edgeflow run image --data FOLDER --set model.backbone=NAME --set
  model.weights=null`` (no ImageNet weights can be downloaded here), with ``train.epochs`` from
  ``--backbone-epochs``: pick it so its seconds come near the default run's.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from own_images import KINDS, print_runs, run, write_folder  # noqa: E402

SUFFIXES = (".jpg", ".png")


def split_files(root: Path, train_buckets: int = 4, eval_buckets: int = 1):
    """(train, eval) lists of ``<class>/<file>`` paths, split as edgeflow's ExampleGen splits them
    (tfx/components/example_gen/base_example_gen_executor.py, _GeneratePartitionKey and _PartitionFn)."""
    import edgeflow  # noqa: F401
    import tensorflow as tf

    splits = ([], [])
    for path in sorted(p for p in root.glob("*/*") if p.suffix.lower() in SUFFIXES):
        rel = f"{path.parent.name}/{path.name}"
        key = tf.train.Feature(bytes_list=tf.train.BytesList(value=[rel.encode()])).SerializeToString(deterministic=True)
        bucket = int(hashlib.sha256(key).hexdigest(), 16) % (train_buckets + eval_buckets)
        splits[bucket >= train_buckets].append(rel)
    return splits


def link_split(root: Path, rels, dest: Path) -> Path:
    """`dest`/<class>/<file> symlinks to `rels` under `root`: a folder image_dataset_from_directory reads."""
    for name in sorted(p.name for p in root.iterdir() if p.is_dir()):
        (dest / name).mkdir(parents=True, exist_ok=True)
    for rel in rels:
        link = dest / rel
        if not link.exists():
            os.symlink(root / rel, link)
    return dest


def peer(train_dir: Path, eval_dir: Path, epochs: int, size: int = 32, seed: int = 42) -> None:
    """The notebook: prints 'peer_accuracy A' and 'peer_epochs E' for the parent to read."""
    import edgeflow  # noqa: F401  (tf.keras = Keras 2, quiet TensorFlow, as edgeflow's own runs)
    import tensorflow as tf
    from tensorflow import keras

    keras.utils.set_random_seed(seed)
    train_ds = keras.utils.image_dataset_from_directory(train_dir, image_size=(size, size), batch_size=32, seed=seed)
    eval_ds = keras.utils.image_dataset_from_directory(eval_dir, image_size=(size, size), batch_size=32,
                                                       shuffle=False)
    num_classes = len(train_ds.class_names)
    train_ds = train_ds.cache().shuffle(1000, seed=seed).prefetch(tf.data.AUTOTUNE)
    model = keras.Sequential([
        keras.layers.Rescaling(1.0 / 255, input_shape=(size, size, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(num_classes),
    ])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_ds, epochs=epochs, verbose=0)
    _, accuracy = model.evaluate(eval_ds, verbose=0)
    print(f"peer_accuracy {accuracy:.4f}\npeer_epochs {epochs}", flush=True)


def run_peer(train_dir: Path, eval_dir: Path, epochs: int) -> dict:
    cmd = [sys.executable, __file__, "--peer-only", str(train_dir), str(eval_dir), "--peer-epochs", str(epochs)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.time() - t0
    values = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("peer_"))
    return {"accuracy": float(values.get("peer_accuracy", "nan")), "blessed": "-",
            "epochs": int(values.get("peer_epochs", 0)), "seconds": seconds, "rc": proc.returncode,
            "command": " ".join(["python", "benchmarks/own_images_peer.py"] + cmd[2:]),
            "error": proc.stderr[-2000:] if proc.returncode else ""}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="working folder (default: a new temporary one)")
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--kind", choices=sorted(KINDS), default="shapes",
                    help="shapes (flips keep the class) or arrows (a flip changes it: run with --set augment.flip=none)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a --set value for every edgeflow run here (e.g. augment.flip=none for arrows)")
    ap.add_argument("--seed", type=int, default=16, help="the generated folder's seed")
    ap.add_argument("--peer-epochs", type=int, default=10, help="the notebook's epochs (the tutorial's 10)")
    ap.add_argument("--peer-long", type=int, default=0, metavar="EPOCHS",
                    help="also run the notebook for this many epochs (its seconds near edgeflow's)")
    ap.add_argument("--backbone", default=None, help="also run edgeflow with model.backbone=NAME, weights=null")
    ap.add_argument("--backbone-epochs", type=int, default=10)
    ap.add_argument("--also", action="append", default=[], metavar="KEY=VALUE",
                    help="one more edgeflow run with these --set values (repeat the flag for more values)")
    ap.add_argument("--peer-only", nargs=2, metavar=("TRAIN_DIR", "EVAL_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_only:
        return peer(Path(args.peer_only[0]), Path(args.peer_only[1]), args.peer_epochs)
    work = Path(args.out or tempfile.mkdtemp(prefix="edgeflow-own-peer-"))
    data = write_folder(work / "data", args.per_class, seed=args.seed, kind=args.kind)
    train_rels, eval_rels = split_files(data)
    classes = KINDS[args.kind]
    print(f"data: {args.kind}, {len(classes) * args.per_class} images in {len(classes)} classes at {data}; split "
          f"{len(train_rels)} train / {len(eval_rels)} eval (edgeflow's hash split)", flush=True)
    rows = {"edgeflow": run(data, work / "out-default", args.sets, with_export=False)}
    print(f"edgeflow done in {rows['edgeflow']['seconds']:.0f} s", flush=True)
    rows["keras peer"] = run_peer(link_split(data, train_rels, work / "split" / "train"),
                                  link_split(data, eval_rels, work / "split" / "eval"), args.peer_epochs)
    print(f"keras peer done in {rows['keras peer']['seconds']:.0f} s", flush=True)
    if args.peer_long:
        rows[f"keras peer {args.peer_long} epochs"] = run_peer(work / "split" / "train", work / "split" / "eval",
                                                              args.peer_long)
    if args.also:
        rows["edgeflow " + " ".join(args.also)] = run(data, work / "out-also", args.sets + args.also,
                                                      with_export=False)
    if args.backbone:
        rows[f"edgeflow {args.backbone}"] = run(
            data, work / f"out-{args.backbone}",
            args.sets + [f"model.backbone={args.backbone}", "model.weights=null",
                         f"train.epochs={args.backbone_epochs}"],
            with_export=False)
    from edgeflow.pipelines.results import read_run

    counts = read_run(work / "out-default" / "image" / "metadata.sqlite", "image").example_counts
    print(f"\nsplit check: edgeflow's ExampleGen wrote {counts.get('train')} train / {counts.get('eval')} eval; "
          f"this script's split {len(train_rels)} / {len(eval_rels)}")
    print_runs(rows, "edgeflow", width=40)


if __name__ == "__main__":
    main()
