"""The default forecast run against its classical peers, on hourly series nobody here tuned to.

Writes held-out series of its own (different cycles, trends, noise, a level shift, a missing
stretch that edgeflow fills by interpolation) and one real hourly series that ships in an
installed package (vega_datasets' San Francisco temperatures, 2010; the bundled default is
Seattle's), all under the benchmark's output folder, never into the repository. Then runs the
default ``edgeflow run sequence --data <csv> --set sequence.fill=interpolate --no-tracking``
(through ``run_pipeline``) on each and prints, side by side, edgeflow's eval MAE and the
evaluator's baselines on the same eval windows: Holt-Winters (fitted on the train part, rolled
forward with fixed parameters), the best naive rule (persistence, seasonal-naive,
seasonal-plus-drift) and seasonal-naive, the Trainer's wall seconds and edgeflow / Holt-Winters.
``--held-out SEED`` swaps the development series (seed 20, tuned on while the forecaster was designed)
for four drawn afresh from SEED. The last column, Holt-Winters with the train/eval gap rows seen,
shows what the evaluator's protocol (the gap is missing from the examples, so its state is carried
forward) costs it.

    .venv/bin/python benchmarks/forecast_peers.py [--output DIR] [--only NAME,...] [--held-out SEED] [--bundled] [--no-export]
"""
import edgeflow  # noqa: F401

import argparse
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np

HOURS_PER_DAY, WEEK = 24, 168


def _write(path: Path, values: np.ndarray, keep: np.ndarray = None) -> Path:
    """``date,value`` hourly from 2021-01-04 00:00; rows where `keep` is False are left out (a gap)."""
    stamps = np.datetime64("2021-01-04T00:00") + np.arange(len(values)).astype("timedelta64[h]")
    keep = np.ones(len(values), bool) if keep is None else keep
    path.write_text("date,value\n" + "".join(f"{str(t).replace('T', ' ')},{v:.4f}\n"
                                             for t, v, k in zip(stamps, values, keep) if k))
    return path


def _ar1(rng, n: int, phi: float, sd: float) -> np.ndarray:
    e, out = rng.normal(0, sd, n), np.zeros(n)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out


def synthetic_series(root: Path) -> dict:
    """{name: (csv path, description)} of four generated hourly series."""
    out = {}
    rng = np.random.default_rng(20)
    t = np.arange(120 * HOURS_PER_DAY)  # 120 days
    out["daily_weekly"] = (_write(root / "daily_weekly.csv", 20 + 0.004 * t + 3 * np.sin(2 * np.pi * t / 24)
                                  + 1.5 * np.sin(2 * np.pi * t / WEEK) + _ar1(rng, len(t), 0.8, 0.5)),
                           "120 d; slow trend, daily + weekly cycle, AR(1) noise")
    t = np.arange(90 * HOURS_PER_DAY)  # 90 days, a level shift of +6 inside the eval part
    shift = np.where(t >= int(0.88 * len(t)), 6.0, 0.0)
    out["level_shift"] = (_write(root / "level_shift.csv", 50 + 4 * np.sin(2 * np.pi * t / 24 + 1.0) + shift
                                 + _ar1(rng, len(t), 0.5, 0.8)),
                          "90 d; daily cycle, +6 level shift at 88 % (in eval), AR(1) noise")
    t = np.arange(100 * HOURS_PER_DAY)  # 100 days, a 12-hour tide-like cycle over a falling trend, heavy noise
    out["half_day_noisy"] = (_write(root / "half_day_noisy.csv", 100 - 0.01 * t + 2 * np.sin(2 * np.pi * t / 12)
                                    + 1.0 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.2, len(t))),
                             "100 d; falling trend, 12 h + 24 h cycles, heavy white noise")
    t = np.arange(120 * HOURS_PER_DAY)  # 120 days, a daily cycle growing with the level, gaps
    level = 10 + 0.02 * t
    keep = np.ones(len(t), bool)
    keep[1500:1536] = False  # a 36-hour outage, in train
    keep[rng.choice(np.arange(1, len(t) - 1), 40, replace=False)] = False  # 40 single lost hours
    out["growing_gappy"] = (_write(root / "growing_gappy.csv", level * (1 + 0.15 * np.sin(2 * np.pi * t / 24))
                                   + _ar1(rng, len(t), 0.7, 0.6), keep),
                            "120 d; trend, daily cycle growing with it, 36 h + 40 x 1 h missing (interpolated)")
    return out


def held_out_series(root: Path, seed: int) -> dict:
    """{name: (csv path, description)} of four hourly series drawn afresh from `seed`: none of their
    parameters were seen while the forecaster was designed (``synthetic_series`` at seed 20 was)."""
    rng = np.random.default_rng(seed)
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    out = {}
    t = np.arange(150 * HOURS_PER_DAY)
    a, b, phi = u(2, 5), u(0.5, 2), u(0.6, 0.9)
    out["ho_daily_weekly"] = (_write(root / "ho_daily_weekly.csv", 5 + u(-0.01, 0.01) * t
                                     + a * np.sin(2 * np.pi * t / 24 + u(0, 6)) + b * np.sin(2 * np.pi * t / WEEK)
                                     + _ar1(rng, len(t), phi, 0.6)),
                              f"150 d; trend, daily ({a:.1f}) + weekly ({b:.1f}) cycle, AR(1) phi {phi:.2f}")
    t = np.arange(100 * HOURS_PER_DAY)  # the shift lands at 94 %: inside the eval windows at W = 192
    jump = u(4, 8)
    out["ho_level_shift"] = (_write(root / "ho_level_shift.csv", 30 + u(2, 5) * np.sin(2 * np.pi * t / 24)
                                    + np.where(t >= int(0.94 * len(t)), jump, 0.0) + _ar1(rng, len(t), 0.6, 0.7)),
                             f"100 d; daily cycle, +{jump:.1f} level shift at 94 % (inside eval), AR(1) noise")
    t = np.arange(90 * HOURS_PER_DAY)
    slope = np.where(t < 40 * HOURS_PER_DAY, 0.02, -0.01)
    out["ho_trend_break"] = (_write(root / "ho_trend_break.csv", 40 + np.cumsum(slope)
                                    + 3 * np.sin(2 * np.pi * t / 24) + 1.5 * np.sin(2 * np.pi * t / 8)
                                    + _ar1(rng, len(t), 0.7, 0.5)),
                             "90 d; trend that turns at day 40, 24 h + 8 h cycles, AR(1) noise")
    t = np.arange(130 * HOURS_PER_DAY)
    level = 20 + 0.015 * t
    keep = np.ones(len(t), bool)
    keep[2000:2048] = False  # a 48-hour outage, in train
    keep[rng.choice(np.arange(1, len(t) - 1), 60, replace=False)] = False
    out["ho_growing_gappy"] = (_write(root / "ho_growing_gappy.csv",
                                      level * (1 + 0.12 * np.sin(2 * np.pi * t / 24 + u(0, 6)))
                                      + _ar1(rng, len(t), 0.75, 0.5), keep),
                               "130 d; daily cycle growing with the trend, 48 h + 60 x 1 h missing (interpolated)")
    return out


def real_series(root: Path) -> dict:
    """vega_datasets' sf-temps.csv (hourly San Francisco temperatures, 2010), rewritten as ``date,temp``."""
    lines = (resources.files("vega_datasets") / "_data" / "sf-temps.csv").read_text().splitlines()[1:]
    rows = [line.split(",") for line in lines if line.strip()]
    path = root / "sf_temps.csv"
    path.write_text("date,temp\n" + "".join(f"{d.replace('/', '-')},{v}\n" for v, d in rows))
    return {"sf_temps": (path, "real: vega_datasets sf-temps, hourly deg F, 2010 (8,759 rows, DST hour filled)")}


def full_history_holt_winters(csv: Path, cfg) -> float:
    """Holt-Winters' eval MAE when its recursions also see the gap rows between train and eval."""
    from edgeflow.components.sequence import baselines as bl
    from edgeflow.components.sequence.data import parse_series, read_csv, split_window_starts

    seq = cfg.sequence
    series = parse_series(*read_csv(str(csv)), fill="interpolate")
    y = series.values[:, series.target_index].astype(np.float64)
    _, evals = split_window_starts(len(y), seq.steps, seq.horizon, seq.eval_fraction)
    ends = np.array(evals) + seq.steps  # each eval window's first target row
    cut = int(len(y) * (1 - seq.eval_fraction))
    pred = bl.holt_winters(y, cut, ends, seq.horizon, seq.season)
    return bl.forecast_errors(np.stack([y[e:e + seq.horizon] for e in ends]), pred)["mae"]


def run_one(name: str, csv: Path, out: Path, export: bool = True) -> dict:
    from edgeflow.config import load_config
    from edgeflow.pipelines.runner import run_pipeline

    overrides = ["sequence.fill=interpolate"] + ([] if export else ["export.enabled=false"])
    cfg = load_config("sequence", "default", overrides=overrides,
                      updates={"output": str(out / "runs" / name), "data": {"path": str(csv)},
                               "tracking": {"enabled": False}})
    t0 = time.time()
    outcome = run_pipeline(cfg)
    m = outcome.results.metrics
    naive = {k: m[f"baseline.{k}.mae"] for k in ("persistence", "seasonal_naive", "seasonal_drift")}
    best = min(naive, key=naive.get)
    return {"name": name, "mae": m["mae"], "hw": m["baseline.holt_winters.mae"], "best_naive": naive[best],
            "best_naive_name": best, "seasonal_naive": naive["seasonal_naive"],
            "train_s": outcome.component_seconds.get("Trainer", float("nan")), "run_s": time.time() - t0,
            "blessed": outcome.results.blessed, "hw_full": full_history_holt_winters(csv, cfg),
            "epochs": len(outcome.results.history)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default=None, help="folder for the series and the runs (default: a new temp dir)")
    ap.add_argument("--only", default=None, help="comma-separated series names")
    ap.add_argument("--held-out", type=int, default=None, metavar="SEED",
                    help="run four series drawn afresh from SEED instead of the development series (seed 20)")
    ap.add_argument("--bundled", action="store_true", help="also run the bundled seattle-temps series")
    ap.add_argument("--no-export", action="store_true",
                    help="skip EdgeExport after a blessed run (minutes; the table does not depend on it)")
    args = ap.parse_args()
    out = Path(args.output or tempfile.mkdtemp(prefix="edgeflow-forecast-peers-"))
    data = out / "series"
    data.mkdir(parents=True, exist_ok=True)
    drawn = synthetic_series(data) if args.held_out is None else held_out_series(data, args.held_out)
    series = {**drawn, **real_series(data)}
    if args.bundled:
        from edgeflow.pipelines.bundled.series import write_seattle_temps_csv

        series["seattle_bundled"] = (write_seattle_temps_csv(data), "the bundled default (vega_datasets seattle-temps)")
    if args.only:
        series = {k: v for k, v in series.items() if k in args.only.split(",")}
    rows = []
    for name, (csv, about) in series.items():
        print(f"== {name}: {about}", flush=True)
        rows.append(run_one(name, csv, out, export=not args.no_export))
        r = rows[-1]
        print(f"   edgeflow MAE {r['mae']:.4f}  Holt-Winters {r['hw']:.4f}  ratio {r['mae'] / r['hw']:.3f}  "
              f"({r['train_s']:.0f} s training)", flush=True)
    print(f"\nseries under {data}\n")
    print("| series | edgeflow MAE | Holt-Winters MAE | best naive MAE (which) | seasonal-naive MAE | "
          "Trainer s | edgeflow / HW | blessed | HW, gap rows seen |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['mae']:.4f} | {r['hw']:.4f} | {r['best_naive']:.4f} ({r['best_naive_name']}) | "
              f"{r['seasonal_naive']:.4f} | {r['train_s']:.0f} | {r['mae'] / r['hw']:.3f} | "
              f"{'yes' if r['blessed'] else 'no'} | {r['hw_full']:.4f} |")


if __name__ == "__main__":
    main()
