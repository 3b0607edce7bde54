"""Where the forecaster's errors come from, against statsmodels' Holt-Winters, on forecast_peers' series.

Offline (no pipeline, seconds): for each series and window W (48, the default; 192 = a week
plus a day), with edgeflow's protocol (train windows before the cut at 80 %, eval windows one
window after it, horizon 6, season 24, train-split standardization) it prints

* Holt-Winters' eval MAE (the evaluator's baseline: fitted on the train part, rolled forward),
* the in-graph anchor's (models/sequence/smoothing.py, parameters fitted on the train part),
* both per horizon step, the autocorrelation of the anchor's last one-step error with the errors
  1, 2, 6 and 24 steps before it,
* a ridge correction of the anchor fitted on the train windows only: its residual regressed on the
  anchor's last 24 one-step errors, and (W = 192) on the errors and the value changes one week
  (168 steps) before the 24 steps being forecast. It is the linear part of what a head could learn.

    .venv/bin/python benchmarks/forecast_sources.py [--output DIR]
"""
import edgeflow  # noqa: F401

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np

from forecast_peers import real_series, synthetic_series

H, SEASON, WEEK, EVAL_FRACTION = 6, 24, 168, 0.2


def windows(z: np.ndarray, starts, w: int):
    """(N, W, 1) float32 inputs and (N, H) targets of the windows starting at `starts`."""
    x = np.stack([z[i:i + w] for i in starts])[:, :, None].astype(np.float32)
    return x, np.stack([z[i + w:i + w + H] for i in starts])


def correction_features(x: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """(N, K): the last day of one-step errors; with a window of a week plus a day, the errors and the
    value changes one week before that day too; and a constant."""
    w = x.shape[1]
    f = [errors[:, -SEASON:, 0]]
    if w >= WEEK + SEASON:
        week = slice(w - WEEK, w - WEEK + SEASON)
        f += [errors[:, week, 0], x[:, week, 0] - x[:, -SEASON:, 0]]
    return np.concatenate(f + [np.ones((len(x), 1))], axis=1)


def measure(csv: Path, w: int) -> dict:
    from edgeflow.components.sequence import baselines as bl
    from edgeflow.components.sequence.data import parse_series, read_csv, split_window_starts
    from edgeflow.models.sequence.smoothing import HoltWintersAnchor, choose_init, fit_smoothing

    s = parse_series(*read_csv(str(csv)), fill="interpolate")
    y = s.values[:, s.target_index].astype(np.float64)
    n, cut = len(y), int(len(y) * (1 - EVAL_FRACTION))
    sd = y[:cut].std()
    z = (y - y[:cut].mean()) / sd
    train, evals = (np.array(r) for r in split_window_starts(n, w, H, EVAL_FRACTION))
    x_tr, y_tr = windows(z, train, w)
    x_ev, y_ev = windows(z, evals, w)
    gap = (np.arange(n) >= cut) & (np.arange(n) < cut + w)  # rows no example holds: missing, as in the evaluator
    hw = bl.holt_winters(np.where(gap, np.nan, z), cut, evals + w, H, SEASON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = choose_init(fit_smoothing(z[:cut], SEASON), x_tr[::5], y_tr[::5])
    layer = HoltWintersAnchor(H, sm.to_dict())
    a_tr, e_tr = (t.numpy() for t in layer(x_tr))
    a_ev, e_ev = (t.numpy() for t in layer(x_ev))
    f_tr, f_ev = correction_features(x_tr, e_tr), correction_features(x_ev, e_ev)
    coef = np.linalg.solve(f_tr.T @ f_tr + np.eye(f_tr.shape[1]), f_tr.T @ (y_tr - a_tr))  # ridge, lambda 1
    ridge = a_ev + f_ev @ coef

    def per_step(pred):
        return np.abs(pred - y_ev).mean(axis=0) * sd

    last = e_ev[:, -1, 0]
    return {"hw": per_step(hw), "anchor": per_step(a_ev), "ridge": per_step(ridge),
            "acf": [float(np.corrcoef(last, e_ev[:, -1 - k, 0])[0, 1]) for k in (1, 2, 6, 24)],
            "alpha": sm.alpha, "gamma": sm.gamma, "init": sm.init}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default=None, help="folder for the series (default: a new temp dir)")
    args = ap.parse_args()
    root = Path(args.output or tempfile.mkdtemp(prefix="edgeflow-forecast-sources-"))
    root.mkdir(parents=True, exist_ok=True)
    series = {**synthetic_series(root), **real_series(root)}
    print("| series | W | HW MAE | anchor MAE | ridge-corrected MAE | ridge / HW | HW per step | anchor per step | "
          "error acf (1, 2, 6, 24) | alpha, gamma, init |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (csv, _) in series.items():
        for w in (48, WEEK + SEASON):
            r = measure(csv, w)
            fmt = " ".join(f"{v:.3f}" for v in r["hw"]), " ".join(f"{v:.3f}" for v in r["anchor"])
            print(f"| {name} | {w} | {r['hw'].mean():.4f} | {r['anchor'].mean():.4f} | {r['ridge'].mean():.4f} | "
                  f"{r['ridge'].mean() / r['hw'].mean():.3f} | {fmt[0]} | {fmt[1]} | "
                  f"{' '.join(f'{a:.2f}' for a in r['acf'])} | {r['alpha']:.2f}, {r['gamma']:.2f}, {r['init']} |",
                  flush=True)


if __name__ == "__main__":
    main()
