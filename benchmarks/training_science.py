"""Training science, measured side by side in one run on the default digits data (16x16, 1,797 images):

1. shallow baseline (logistic regression on the transformed pixels) vs the default CNN, same split;
2. K-fold cross-validation of the default config: accuracy mean +/- std;
3. diagnostics overhead: epoch time with / without the three diagnostics callbacks (goal < 1.10).

Usage: .venv/bin/python benchmarks/training_science.py [--folds 5] [--epochs 8] [--repeats 2]
"""
import argparse
import statistics
import tempfile
import time
from dataclasses import replace

import edgeflow  # noqa: F401 - environment first

import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from edgeflow.components.image.shallow_baseline import logistic_regression
from edgeflow.models.training.callbacks import build_callbacks
from edgeflow.models.image.model import build_cnn
from edgeflow.models.controls import configured_cures
from edgeflow.models.training.diagnostics import build_diagnostics
from edgeflow.models.image.trainer import compile_model
from edgeflow.config import load_config
from edgeflow.pipelines.cv import cross_validate, load_images, train_fold


class Timed(tf.keras.callbacks.Callback):
    """Runs `inner`'s train-begin/epoch-end hooks, adding the seconds of every epoch-end to `spent`."""

    def __init__(self, inner, spent: list):
        super().__init__()
        self.inner, self.spent = inner, spent

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def on_train_begin(self, logs=None):
        self.inner.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        t0 = time.perf_counter()
        self.inner.on_epoch_end(epoch, logs)
        if epoch:  # epoch 1 traces the probe graphs
            self.spent.append(time.perf_counter() - t0)

    def on_train_end(self, logs=None):
        self.inner.on_train_end(logs)


class EpochEnds(tf.keras.callbacks.Callback):
    """Wall time at the end of every epoch, after every other callback has run (put it last)."""

    def on_train_begin(self, logs=None):
        self.ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())


SPENT: list = []  # seconds inside the diagnostics' epoch-end hooks, summed per epoch below


def epoch_seconds(cfg, x, y, with_diagnostics: bool, epochs: int) -> list:
    """Seconds of each of epochs 2..E (epoch 1 traces the graphs), every callback included."""
    tf.keras.utils.set_random_seed(cfg.train.seed)
    model = compile_model(build_cnn(x.shape[1:], 10, cfg.model), cfg.train)
    with tempfile.TemporaryDirectory() as run_dir:
        diags = build_diagnostics(cfg.diagnostics, (x[:64], y[:64]), f"{run_dir}/d.json",
                                  configured_cures(cfg.model)) if with_diagnostics else []
        diags = [Timed(d, SPENT) for d in diags]
        train = replace(cfg.train, epochs=epochs, early_stopping_patience=epochs)
        ends = EpochEnds()
        model.fit(x[:1400], y[:1400], validation_data=(x[1400:], y[1400:]), epochs=epochs,
                  batch_size=train.batch_size, verbose=0,
                  callbacks=build_callbacks(train, run_dir, None, diags) + [ends])
    return list(np.diff(ends.ends))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=8, help="epochs per overhead measurement")
    p.add_argument("--repeats", type=int, default=4, help="alternating with/without pairs")
    p.add_argument("--parts", default="1,2,3", help="which measurements, e.g. 3 for the overhead only")
    args = p.parse_args()
    out = tempfile.mkdtemp(prefix="edgeflow-bench-")
    cfg = load_config("image", "default", updates={"output": out, "tracking": {"enabled": False}})
    x, y, classes = load_images(cfg)
    print(f"data: {len(y)} digits, {x.shape[1]}x{x.shape[2]}x{x.shape[3]}, {len(classes)} classes; "
          f"model: default CNN ({cfg.model.blocks} blocks, {cfg.model.filters} filters), "
          f"up to {cfg.train.epochs} epochs with early stopping", flush=True)

    parts = set(args.parts.split(","))
    if "1" in parts:
        holdout(cfg, x, y, classes, out)
    if "2" in parts:
        t0 = time.time()
        cv = cross_validate(cfg, args.folds)
        folds = ", ".join(f"{f['accuracy']:.4f}" for f in cv.folds)
        print(f"\n2. {args.folds}-fold CV (default config): accuracy {cv.mean('accuracy'):.4f} +/- "
              f"{cv.std('accuracy'):.4f}  (folds: {folds}; {time.time() - t0:.0f}s)", flush=True)
    if "3" in parts:
        overhead(cfg, x, y, args.epochs, args.repeats)


def holdout(cfg, x, y, classes, out):
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=cfg.train.seed)
    t0 = time.time()
    shallow = logistic_regression(x_tr.reshape(len(x_tr), -1), y_tr).score(x_te.reshape(len(x_te), -1), y_te)
    t1 = time.time()
    cnn = train_fold(cfg, x_tr, y_tr, x_te, y_te, len(classes), f"{out}/holdout")
    t2 = time.time()
    print(f"\n1. hold-out 80/20 (stratified, seed {cfg.train.seed}), {len(y_te)} test images")
    print(f"   shallow baseline (logistic regression): accuracy {shallow:.4f}  ({t1 - t0:.1f}s)")
    print(f"   CNN:                                    accuracy {cnn['accuracy']:.4f}  ({t2 - t1:.1f}s, "
          f"{cnn['epochs']} epochs)")
    print(f"   lift {cnn['accuracy'] - shallow:+.4f}; error rate ratio shallow/CNN "
          f"{(1 - shallow) / max(1e-9, 1 - cnn['accuracy']):.2f}", flush=True)



def overhead(cfg, x, y, epochs, repeats):
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    xs, ys = x[order], y[order]
    without, with_ = [], []
    for _ in range(repeats):  # alternate, so load from other processes hits both sides
        without += epoch_seconds(cfg, xs, ys, False, epochs)
        with_ += epoch_seconds(cfg, xs, ys, True, epochs)
    print(f"\n3. diagnostics overhead: epochs 2..{epochs} of {repeats} alternating trainings each, "
          f"1,400 training images, probe batch {cfg.diagnostics.probe_size}, all three diagnostics every epoch")
    for stat in (min, statistics.median):
        a, b = stat(without), stat(with_)
        print(f"   {stat.__name__:>6} epoch: without {a:.3f}s, with {b:.3f}s -> ratio {b / a:.3f}  (goal < 1.10)")
    own = sum(SPENT) / (len(with_) or 1)  # 3 hooks per epoch, summed
    base = statistics.median(without)
    print(f"   time inside the diagnostics: {own * 1000:.1f} ms/epoch -> (median epoch without + that) / "
          f"median epoch without = {(base + own) / base:.3f}")


if __name__ == "__main__":
    main()
