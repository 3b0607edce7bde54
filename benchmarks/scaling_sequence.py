"""How the sequence (forecast) pipeline's cost grows with the series (issue 17, item 1).

    .venv/bin/python benchmarks/scaling_sequence.py [--years 1,10] [--epochs 1] [--set KEY=VALUE ...]
    .venv/bin/python benchmarks/scaling_sequence.py --windowing-only [--years 1,10,30]

Writes an hourly series per size (``date,temp,humidity``: a daily and a yearly cycle, a slow drift,
AR(1) noise, 0.1 % of the hours missing), then runs ``edgeflow run sequence --data CSV --set
sequence.fill=interpolate --set train.epochs=E`` (no MLflow, no EdgeExport) in a fresh output folder,
sampling the resident memory of the CLI's whole process tree (psutil, every 0.25 s) and reading each
component's start and end from ML Metadata (benchmarks/scaling.py). Per component: wall seconds,
milliseconds per row of the series and the peak RSS of the tree while it ran; then the growth ratios.

``--windowing-only`` measures the ExampleGen's Beam transform alone (DirectRunner, window 192, horizon
6, written as TFRecords), in a fresh process per size and way: the streamed chain (``Create([path])``,
``FlatMap(stream_windows)``) against the chain before (``ReadFromText``, ``ToList`` of every row,
``window_rows``, ``Reshuffle`` of every window); peak RSS from ``getrusage``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scaling import measure, report  # noqa: E402

HOURS_PER_YEAR = 8760


def write_series(path: Path, hours: int, seed: int = 0) -> Path:
    """An hourly two-column series of `hours` rows (a few missing), written in chunks."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = np.datetime64("2000-01-01T00:00")
    with path.open("w") as f:
        f.write("date,temp,humidity\n")
        noise = 0.0
        for at in range(0, hours, 100_000):
            t = np.arange(at, min(hours, at + 100_000))
            eps = rng.normal(0, 0.8, len(t))
            ar = np.empty(len(t))
            for i, e in enumerate(eps):  # AR(1) noise
                noise = 0.8 * noise + e
                ar[i] = noise
            temp = (50 + 10 * np.sin(2 * np.pi * t / HOURS_PER_YEAR) + 6 * np.sin(2 * np.pi * (t % 24) / 24)
                    + 1e-4 * t + ar)
            humid = 60 - 0.8 * (temp - 50) + rng.normal(0, 2, len(t))
            keep = rng.random(len(t)) >= 0.001
            stamps = np.datetime_as_string(start + t.astype("timedelta64[h]"), unit="m")
            f.write("".join(f"{s},{a:.2f},{b:.1f}\n" for s, a, b, k in zip(stamps, temp, humid, keep) if k))
    return path


WINDOWING = """
import csv, os, resource, shutil, sys, tempfile, time
import apache_beam as beam
from edgeflow.components.sequence.example_gen import stream_windows, window_rows, _read_header
path, way = sys.argv[1], sys.argv[2]
seq = {"task": "forecast", "time_column": None, "target": None, "fill": "interpolate", "window": 192,
       "horizon": 6, "eval_fraction": 0.2}
out = tempfile.mkdtemp(prefix="edgeflow-windows-")
t0 = time.time()
p = beam.Pipeline()  # DirectRunner, as edgeflow run
if way == "streamed":
    windows = p | beam.Create([path]) | beam.FlatMap(stream_windows, seq)
else:  # the ExampleGen's chain before issue 17: every row gathered, every window reshuffled
    windows = (p | beam.io.ReadFromText(path, skip_header_lines=1)
               | beam.Map(lambda line: next(csv.reader([line]), []))
               | beam.Filter(lambda cells: any(c.strip() for c in cells))
               | beam.combiners.ToList() | beam.FlatMap(window_rows, _read_header(path), seq) | beam.Reshuffle())
for split in ("train", "eval"):
    _ = (windows | f"Only{split}" >> beam.Filter(lambda kv, s=split: kv[0] == s)
         | f"Bytes{split}" >> beam.Map(lambda kv: kv[1])
         | f"Write{split}" >> beam.io.WriteToTFRecord(os.path.join(out, split), file_name_suffix=".gz"))
result = p.run()
result.wait_until_finish()
n = sum(c.committed for c in result.metrics().query(beam.metrics.MetricsFilter().with_namespace("edgeflow"))["counters"])
shutil.rmtree(out)
print(n, time.time() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def windowing_only(work: Path, years: list) -> None:
    print(f"{'years':>5} {'rows':>8} {'way':<11} {'windows':>8} {'seconds':>8} {'peak RSS MB':>12}")
    for y in years:
        csv = write_series(work / f"series-{y}y.csv", y * HOURS_PER_YEAR)
        for way in ("whole-file", "streamed"):
            out = subprocess.run([sys.executable, "-c", WINDOWING, str(csv), way], capture_output=True, text=True,
                                 check=True).stdout.split()
            print(f"{y:>5} {y * HOURS_PER_YEAR:>8} {way:<11} {int(out[0]):8d} {float(out[1]):8.1f} "
                  f"{float(out[2]):12.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", default="1,10")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="more config overrides for every run")
    ap.add_argument("--windowing-only", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    years = [int(y) for y in args.years.split(",")]
    work = Path(args.out or tempfile.mkdtemp(prefix="edgeflow-scaling-seq-"))
    if args.windowing_only:
        return windowing_only(work, years)
    sets = [f"train.epochs={args.epochs}", "tracking.enabled=false", "export.enabled=false",
            "sequence.fill=interpolate", *args.set]
    results, sizes = {}, []
    for y in years:
        rows = y * HOURS_PER_YEAR
        csv = write_series(work / f"data-{y}y" / "series.csv", rows)
        out = work / f"out-{y}y"
        cmd = [str(Path(sys.executable).with_name("edgeflow")), "run", "sequence", "--data", str(csv),
               "--output", str(out)] + [a for s in sets for a in ("--set", s)]
        results[rows] = measure(cmd, out / "sequence" / "metadata.sqlite")
        sizes.append(rows)
        print(f"{y} year(s), {rows} hourly rows: exit {results[rows]['rc']}, "
              f"{results[rows]['rows']['whole run']['seconds']:.0f} s, load {os.getloadavg()[0]:.2f}", flush=True)
    report(results, sizes)


if __name__ == "__main__":
    main()
