"""LSTM vs GRU vs SimpleRNN on the sequence pipeline's default data, and the RNN/baseline ratio.

Same windows, split and train-split standardization as the pipeline (its pure functions), the
same model builder and defaults (``SequenceConfig``), measured side by side in one run, in
Keras directly (no TFX) so the numbers are the models', not the orchestration's. Each cell
trains twice from the same seed: for the same number of epochs, and for the same wall-clock
budget (the clock starts after the first batch, so graph tracing, reported apart, is not in it).
Forecast also shows the reference points behind the model's design: the seasonal-naive error at
each horizon step, the same RNN reading only the values (``sequence.inputs=values``), and the naive
"seasonal + last seasonal change" forecast, which is *not* a blessing baseline.

    .venv/bin/python benchmarks/sequence_cells.py [--epochs 10] [--budget 20]
"""
import edgeflow  # noqa: F401

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import tensorflow as tf

from edgeflow.components.sequence import baselines as bl
from edgeflow.components.sequence.data import forecast_examples, is_eval_id, parse_sequences, parse_series, read_csv
from edgeflow.models.sequence.model import build_rnn, compile_rnn, seasonal_change_scale
from edgeflow.config import SequenceConfig, TrainConfig
from edgeflow.pipelines.bundled.series import write_digit_sequences_csv, write_seattle_temps_csv

CELLS = ("lstm", "gru", "simple_rnn")


class TimeBudget(tf.keras.callbacks.Callback):
    """Stops training `seconds` after the end of the first batch (after graph tracing)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        self.t_start, self.t0, self.epochs = time.time(), None, 0

    def on_train_batch_end(self, batch, logs=None):
        if self.t0 is None:
            self.t0 = time.time()
            self.trace = self.t0 - self.t_start
        elif time.time() - self.t0 > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1


def forecast_data(root, seq):
    series = parse_series(*read_csv(write_seattle_temps_csv(root)))
    ex = list(forecast_examples(series, seq.steps, seq.horizon, seq.eval_fraction))
    pick = lambda split, key: np.stack([f[key] for s, f in ex if s == split])  # noqa: E731
    return (pick("train", "window").reshape(-1, seq.steps, 1), pick("train", "target"),
            pick("eval", "window").reshape(-1, seq.steps, 1), pick("eval", "target"))


def classify_data(root, seq):
    seqs = parse_sequences(*read_csv(write_digit_sequences_csv(root)))
    ev = np.array([is_eval_id(i, seq.eval_fraction) for i in seqs.ids])
    return seqs.steps[~ev], seqs.labels[~ev], seqs.steps[ev], seqs.labels[ev]


def train(cfg, data, train_cfg, epochs, budget=None):
    """(eval predictions in target units or probabilities, seconds, epochs run, trace seconds, params)."""
    xtr, ytr, xev, mean, std = data
    tf.keras.utils.set_random_seed(0)
    scale = seasonal_change_scale(xtr, cfg.season) if cfg.task == "forecast" else 1.0
    outputs = cfg.horizon if cfg.task == "forecast" else 10
    model = compile_rnn(build_rnn(xtr.shape[1], xtr.shape[2], outputs, cfg, change_scale=scale), cfg.task,
                        train_cfg.learning_rate)
    clock = TimeBudget(budget if budget is not None else float("inf"))
    t0 = time.time()
    model.fit(xtr, ytr, batch_size=train_cfg.batch_size, epochs=epochs, verbose=0, callbacks=[clock])
    seconds = time.time() - t0 - clock.trace
    pred = model.predict(xev, verbose=0, batch_size=512)
    return (pred * std + mean if cfg.task == "forecast" else pred), seconds, clock.epochs, clock.trace, model.count_params()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of training per cell (after tracing)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp())
    t = TrainConfig()
    print(f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; batch {t.batch_size}, Adam {t.learning_rate}, "
          f"defaults of SequenceConfig (units 32, 1 layer, unrolled); CPU")
    for task in ("forecast", "classify"):
        seq = SequenceConfig(task=task, window=48 if task == "forecast" else 8)
        xtr, ytr, xev, yev = (forecast_data if task == "forecast" else classify_data)(root, seq)
        flat = xtr.reshape(-1, xtr.shape[-1])
        mean, std = flat.mean(0), flat.std(0) + 1e-6  # train split only, as Transform does
        norm = lambda x: (x - mean) / std  # noqa: E731
        if task == "forecast":
            sn = bl.forecast_errors(yev, bl.seasonal_naive(xev, 0, seq.horizon, seq.season))
            base = {"persistence": bl.forecast_errors(yev, bl.persistence(xev, 0, seq.horizon))["mae"],
                    "seasonal_naive": sn["mae"]}
            w, s = xev[:, :, 0], seq.season
            drift = bl.seasonal_naive(xev, 0, seq.horizon, s) + (w[:, -1:] - w[:, -1 - s:-s])
            data = (norm(xtr), (ytr - mean[0]) / std[0], norm(xev), mean[0], std[0])
            score = lambda p: bl.forecast_errors(yev, p)["mae"]  # noqa: E731
        else:
            base = {"shallow": bl.classification_metrics(yev, bl.shallow_classifier(xtr, ytr, xev), 10)["accuracy"]}
            data = (norm(xtr), ytr, norm(xev), 0.0, 1.0)
            score = lambda p: bl.classification_metrics(yev, p, 10)["accuracy"]  # noqa: E731
        metric = "MAE" if task == "forecast" else "accuracy"
        print(f"\n== {task}: {len(xtr)} train / {len(xev)} eval windows of {xtr.shape[1]}x{xtr.shape[2]}; "
              + ", ".join(f"{k} {metric} {v:.4f}" for k, v in base.items()))
        if task == "forecast":
            print("   seasonal-naive MAE per horizon step: " + " ".join(f"{m:.4f}" for m in sn["mae_per_step"]))
            print(f"   reference, not a blessing baseline: seasonal + last seasonal change MAE {score(drift):.4f} "
                  f"= {score(drift) / min(base.values()):.3f} x best baseline")

        def ratio(v):
            return (f"= {v / min(base.values()):.3f} x best baseline" if task == "forecast"
                    else f"error = {(1 - v) / (1 - base['shallow']):.3f} x shallow's")

        runs = [(cell, replace(seq, cell=cell)) for cell in CELLS]
        if task == "forecast":
            runs.append(("lstm, inputs=values", replace(seq, cell="lstm", inputs="values")))
        for mode, epochs, budget in (("same epochs", args.epochs, None), ("same time budget", 10_000, args.budget)):
            print(f"  -- {mode}: " + (f"{epochs} epochs" if budget is None else f"{budget:.0f} s of training"))
            for name, cfg in runs:
                pred, seconds, ran, trace, params = train(cfg, data, t, epochs, budget)
                v = score(pred)
                print(f"  {name:20s} {metric} {v:.4f}  {ratio(v)}  train {seconds:5.1f}s  {ran:3d} epochs  "
                      f"(+{trace:.1f}s tracing, {params} params)", flush=True)


if __name__ == "__main__":
    main()
