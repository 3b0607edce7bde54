"""LSTM vs GRU vs SimpleRNN on the sequence pipeline's default data, and the RNN/baseline ratio.

Same windows, split and train-split standardization as the pipeline (its pure functions),
same epochs and batch size for every cell, measured side by side in one run; Keras directly
(no TFX) so the numbers are the models', not the orchestration's.

    .venv/bin/python benchmarks/sequence_cells.py [--epochs 6]
"""
import edgeflow  # noqa: F401

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import tensorflow as tf

from edgeflow.components import sequence_baselines as bl
from edgeflow.components.sequence_data import forecast_examples, is_eval_id, parse_sequences, parse_series, read_csv
from edgeflow.models.rnn import build_rnn, compile_rnn
from edgeflow.pipelines.config import SequenceConfig
from edgeflow.pipelines.sequence_datasets import write_digit_sequences_csv, write_seattle_temps_csv


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(2)
    root = Path(tempfile.mkdtemp())
    print(f"cells trained {args.epochs} epochs each, batch 64, Adam 0.003, 32 units, 1 layer, unrolled; CPU")
    for task in ("forecast", "classify"):
        seq = SequenceConfig(task=task, window=48 if task == "forecast" else 8)
        xtr, ytr, xev, yev = (forecast_data if task == "forecast" else classify_data)(root, seq)
        flat = xtr.reshape(-1, xtr.shape[-1])
        mean, std = flat.mean(0), flat.std(0) + 1e-6  # train split only, as Transform does
        norm = lambda x: (x - mean) / std  # noqa: E731
        if task == "forecast":
            base = {"persistence": bl.forecast_errors(yev, bl.persistence(xev, 0, seq.horizon))["mae"],
                    "seasonal_naive": bl.forecast_errors(yev, bl.seasonal_naive(xev, 0, seq.horizon, seq.season))["mae"]}
            ytr_fit = (ytr - mean[0]) / std[0]
        else:
            base = {"shallow": bl.classification_metrics(yev, bl.shallow_classifier(xtr, ytr, xev), 10)["accuracy"]}
            ytr_fit = ytr
        print(f"\n== {task}: {len(xtr)} train / {len(xev)} eval windows of {xtr.shape[1]}x{xtr.shape[2]}; "
              + ", ".join(f"{k} {'MAE' if task == 'forecast' else 'accuracy'} {v:.4f}" for k, v in base.items()))
        for cell in ("lstm", "gru", "simple_rnn"):
            tf.keras.utils.set_random_seed(0)
            cfg = replace(seq, cell=cell)
            model = compile_rnn(build_rnn(xtr.shape[1], xtr.shape[2], seq.horizon if task == "forecast" else 10, cfg),
                                task, 0.003)
            t0 = time.time()
            model.fit(norm(xtr), ytr_fit, batch_size=64, epochs=args.epochs, verbose=0)
            seconds = time.time() - t0
            pred = model.predict(norm(xev), verbose=0, batch_size=256)
            if task == "forecast":
                mae = bl.forecast_errors(yev, pred * std[0] + mean[0])["mae"]
                print(f"  {cell:10s} MAE {mae:.4f}  = {mae / min(base.values()):.3f} x best baseline  "
                      f"train {seconds:.1f}s  ({model.count_params()} params)")
            else:
                acc = bl.classification_metrics(yev, pred, 10)["accuracy"]
                print(f"  {cell:10s} accuracy {acc:.4f}  error = {(1 - acc) / (1 - base['shallow']):.3f} x shallow's  "
                      f"train {seconds:.1f}s  ({model.count_params()} params)")


if __name__ == "__main__":
    main()
