"""Why the default image CNN sits on its start-up plateau on colour photos (issue 16), measured.

    .venv/bin/python benchmarks/cnn_start.py [--out DIR] [--seeds 1,2,3] [--variant NAME=KEY=VALUE,...]

The folder is benchmarks/own_images.py's (600 images, 4 shapes on noisy colour backgrounds, seed 16),
split as edgeflow's ExampleGen splits it (benchmarks/own_images_peer.py). The images are decoded as the
Transform graph decodes them (32x32x3 in [0, 1], what the defaults choose for this folder), and each
variant trains through the real training skeleton (models/training/skeleton.py: the train.* callbacks,
the augmentation, the diagnostics) with ImageTask's hooks; only the SavedModel export is skipped. For
each variant and seed it prints the loss of the first epochs, the epoch val_accuracy first passes 0.5,
the diagnostics after epoch 1 (dead-ReLU share of the worst layer, gradient norm of the first and last
kernel), the epochs run and the accuracy on the eval files.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from own_images import write_folder  # noqa: E402
from own_images_peer import split_files  # noqa: E402

DEFAULT_VARIANTS = {"defaults": {}}


def load(root: Path, rels, size: int):
    """(N, size, size, 3) float32 in [0, 1] decoded as Transform does, (N,) labels (class folder order)."""
    import numpy as np
    import tensorflow as tf

    from edgeflow.models.image.transform import decode_images

    classes = sorted({r.split("/")[0] for r in rels})
    data = tf.constant([(root / r).read_bytes() for r in rels])
    return decode_images(data, size, 3).numpy(), np.array([classes.index(r.split("/")[0]) for r in rels], np.int64)


def parse_variant(text: str):
    name, _, sets = text.partition("=")
    return name, dict(s.split("=", 1) for s in sets.split(",") if s)


def configs(sets: dict, seed: int):
    """(ModelConfig, TrainConfig, AugmentConfig) of the defaults for a folder of one's own, with `sets` on top."""
    import yaml

    from edgeflow.config import AugmentConfig, ModelConfig, TrainConfig, from_dict

    sections = {"model": {}, "train": {"seed": seed}, "augment": {"enabled": True}}
    for key, value in sets.items():
        section, field = key.split(".", 1)
        sections[section][field] = yaml.safe_load(value)
    return (from_dict(ModelConfig, sections["model"]), from_dict(TrainConfig, sections["train"]),
            from_dict(AugmentConfig, sections["augment"]))


def train_one(arrays, sets: dict, seed: int, work: Path) -> dict:
    import numpy as np
    import tensorflow as tf

    from edgeflow.config import ImageConfig
    from edgeflow.models.image.trainer import ImageTask
    from edgeflow.models.training.skeleton import train
    from edgeflow.models.training.validation import split_indices

    (x, y), (ex, ey) = arrays
    model_cfg, train_cfg, augment = configs(sets, seed)
    fit_i, val_i = split_indices(len(x), train_cfg.validation_fraction)
    fit = tf.data.Dataset.from_tensor_slices((x[fit_i], y[fit_i])).shuffle(10_000, seed=seed).batch(train_cfg.batch_size)
    validation = tf.data.Dataset.from_tensor_slices((x[val_i], y[val_i])).batch(train_cfg.batch_size)

    class Task(ImageTask):
        def export(self, model, fn_args):
            pass

    run_dir = work / f"run-{len(list(work.glob('run-*')))}"
    task = Task(ImageConfig(size=x.shape[1], channels=3), model_cfg, ["circle", "cross", "square", "triangle"],
                fit=fit, validation=validation, augment=augment)
    model = train(task, SimpleNamespace(model_run_dir=str(run_dir), serving_model_dir=str(run_dir / "serving"),
                                        base_model=None), replace(train_cfg, resume=False, tensorboard=False))
    history = json.loads((run_dir / "history.json").read_text())
    diag = json.loads((run_dir / "diagnostics.json").read_text())
    first_norms = diag["gradient_health"]["checks"][1]["norms"]  # after epoch 1 (check 0 is before training)
    dead = diag["dead_units"]["checks"][0]["dead_fraction"]
    accuracy = float(np.mean(np.argmax(model.predict(ex, verbose=0), -1) == ey))
    leave = next((h["epoch"] for h in history if h["val_accuracy"] > 0.5), None)
    return {"loss": [round(h["loss"], 3) for h in history[:6]], "leaves_plateau": leave, "epochs": len(history),
            "dead": max(dead.values()) if dead else 0.0, "worst_dead": max(dead, key=dead.get) if dead else "-",
            "grad_first": list(first_norms.values())[0], "grad_last": list(first_norms.values())[-1],
            "accuracy": accuracy, "params": model.count_params()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE,...",
                    help="a variant: its name and --set values, e.g. bn=model.batch_norm=true")
    args = ap.parse_args()
    import edgeflow  # noqa: F401  (Keras 2, quiet TensorFlow)

    work = Path(args.out or tempfile.mkdtemp(prefix="edgeflow-cnn-start-"))
    data = write_folder(work / "data", 150)
    train_rels, eval_rels = split_files(data)
    arrays = (load(data, train_rels, args.size), load(data, eval_rels, args.size))
    variants = dict(parse_variant(v) for v in args.variant) or DEFAULT_VARIANTS
    print(f"{len(train_rels)} train / {len(eval_rels)} eval images, {args.size}x{args.size}x3, seeds {args.seeds}")
    print(f"{'variant':24} {'seed':>4} {'loss, epochs 1-6':40} {'>0.5 at':>7} {'dead@1':>12} "
          f"{'grad first/last @1':>19} {'epochs':>6} {'eval acc':>8}")
    for name, sets in variants.items():
        for seed in (int(s) for s in args.seeds.split(",")):
            r = train_one(arrays, sets, seed, work)
            print(f"{name:24} {seed:4d} {str(r['loss']):40} {str(r['leaves_plateau']):>7} "
                  f"{r['dead']:5.0%} {r['worst_dead'][-9:]:>6} {r['grad_first']:9.2e}/{r['grad_last']:.2e} "
                  f"{r['epochs']:6d} {r['accuracy']:8.4f}", flush=True)
    for name, sets in variants.items():
        print(f"{name}: {' '.join(f'--set {k}={v}' for k, v in sets.items()) or '(the defaults)'}")


if __name__ == "__main__":
    main()
