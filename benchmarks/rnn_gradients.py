"""SimpleRNN vs LSTM vs GRU on a long-memory task: the gradient through time and what each learns.

The task (generated, fixed seed): a window of W steps of one feature; the first `--cue` steps
hold the class as +1 or -1 (plus noise), the rest is N(0, 1) noise. The label is only in the first
steps, so the network must carry it across W - cue steps of noise: the case the classic notes
use to show vanishing gradients and LSTM/GRU as the cure. Each cell is the pipeline's own model
(``build_rnn``, unrolled, one layer, no bidirectional pass - a backward pass would read the cue
last), trained from the same seed for the same epochs. For each it prints the profile
``||dL/dx_t||`` (models/sequence/gradients.py) on a probe batch of held-out windows, before and
after training, relative to the last step, its step-1 / step-W ratio and e-folding length, and the
held-out accuracy and loss; it writes the trained profiles side by side as one plot.

    .venv/bin/python benchmarks/rnn_gradients.py [--window 32] [--epochs 15] [--train 1024] [--plot rnn_gradients.png]
"""
import edgeflow  # noqa: F401

import argparse
import math
import time

import numpy as np
import tensorflow as tf

from edgeflow.config import DiagnosticsConfig, SequenceConfig
from edgeflow.models.sequence.gradients import decay_summary, make_norms_fn, plot_profiles
from edgeflow.models.sequence.model import build_rnn, compile_rnn

CELLS = ("simple_rnn", "lstm", "gru")


def long_memory_task(n: int, window: int, cue: int, seed: int):
    """x (n, W, 1): the class as +-1 (+ 0.3 noise) on the first `cue` steps, N(0, 1) after; y (n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, window, 1)).astype(np.float32)
    x[:, :cue, 0] = (2 * y[:, None] - 1) + 0.3 * x[:, :cue, 0]
    return x, y


def fmt_ratio(v) -> str:
    return "inf" if v is None or math.isinf(v) else f"{v:.1e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--cue", type=int, default=4, help="leading steps that carry the class")
    ap.add_argument("--units", type=int, default=16)
    ap.add_argument("--train", type=int, default=1024, help="training windows")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default="rnn_gradients.png")
    args = ap.parse_args()
    w = args.window
    x, y = long_memory_task(args.train, w, args.cue, args.seed)
    x_test, y_test = long_memory_task(512, w, args.cue, args.seed + 1)
    probe = (x_test[:64], y_test[:64])  # (64, W, 1): the diagnostic's probe batch
    bar = DiagnosticsConfig().vanishing_ratio

    rows, trained = {}, {}
    for cell in CELLS:
        cfg = SequenceConfig(task="classify", cell=cell, units=args.units, window=w, bidirectional=False)
        tf.keras.utils.set_random_seed(args.seed)
        model = compile_rnn(build_rnn(w, 1, 2, cfg), "classify", 0.01)
        t0 = time.time()
        norms = make_norms_fn(model, *probe)  # one graph, read before and after training
        before = decay_summary(norms().numpy(), bar)
        model.fit(x, y, batch_size=64, epochs=args.epochs, verbose=0)
        profile = norms().numpy()
        after = {"profile": profile.tolist(), **decay_summary(profile, bar)}
        loss, acc = model.evaluate(x_test, y_test, verbose=0)
        rows[cell] = (before, after, acc, loss, time.time() - t0)
        trained[cell] = after["profile"]
        print(f"  {cell}: trained in {time.time() - t0:.0f} s", flush=True)

    steps = sorted({1, w // 4, w // 2, 3 * w // 4, w - 1, w})
    print(f"\nLong-memory task: window {w}, class on steps 1-{args.cue}, {args.train} train / 512 held-out "
          f"windows, {args.epochs} epochs, {args.units} units, seed {args.seed}; vanishing bar {bar:g}\n")
    print("||dL/dx_t|| / ||dL/dx_W|| after training (probe: 64 held-out windows)\n")
    print("| cell | " + " | ".join(f"t={t}" for t in steps) + " | step 1 / step W at init | step 1 / step W trained "
          "| e-folding (steps) | verdict | held-out accuracy | held-out loss | time (s) |")
    print("|---" * (len(steps) + 8) + "|")
    for cell, (before, after, acc, loss, secs) in rows.items():
        p = np.asarray(after["profile"])
        rel = " | ".join(f"{p[t - 1] / p[-1]:.1e}" for t in steps)
        efold = "none" if math.isinf(after["efold_steps"]) else f"{after['efold_steps']:.1f}"
        verdict = "vanishing" if after["vanishing"] else "ok"
        print(f"| {cell} | {rel} | {fmt_ratio(before['first_to_last'])} | {fmt_ratio(after['first_to_last'])} "
              f"| {efold} | {verdict} | {acc:.3f} | {loss:.3f} | {secs:.0f} |")
    plot_profiles(trained, args.plot, f"gradient through time after training, window {w}")
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
