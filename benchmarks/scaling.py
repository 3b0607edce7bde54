"""How the image pipeline's cost grows with the data (issue 17, item 1).

    .venv/bin/python benchmarks/scaling.py [--sizes 2000,8000,20000] [--epochs 1] [--with-export] [--set K=V]

For each size, generates that many colour images (benchmarks/own_images.py: 4 shapes on noisy
backgrounds, 24-64 px, JPEG and PNG), runs ``edgeflow run image --data FOLDER --set train.epochs=E``
in a fresh output folder while sampling the resident memory of the CLI's whole process tree (psutil,
every 0.25 s), and reads each component's start and end from ML Metadata. Prints per component: wall
seconds, milliseconds per example and the peak RSS of the tree while it ran; then the growth ratios
from each size to the next (time per example, peak memory). EdgeExport is off unless --with-export.
After each size the rows so far go to OUT/results.json, so a run cut short keeps its finished sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from own_images import CLASSES, write_folder  # noqa: E402


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc] + proc.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def component_spans(metadata: Path) -> dict:
    """Component id -> (start, end) in seconds since the epoch, from ML Metadata's executions."""
    from edgeflow.pipelines.results import open_store

    store = open_store(metadata)
    node_type = store.get_context_type("node").id
    spans = {}
    for ex in store.get_executions():
        node = next((c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(ex.id)
                     if c.type_id == node_type), ex.name)
        spans[node] = (ex.create_time_since_epoch / 1000, ex.last_update_time_since_epoch / 1000)
    return spans


def run(data: Path, out: Path, epochs: int, with_export: bool, extra: list = ()) -> dict:
    sets = ([f"train.epochs={epochs}", "tracking.enabled=false"] + ([] if with_export else ["export.enabled=false"])
            + list(extra))
    cmd = [str(Path(sys.executable).with_name("edgeflow")), "run", "image", "--data", str(data),
           "--output", str(out)] + [a for s in sets for a in ("--set", s)]
    return measure(cmd, out / "image" / "metadata.sqlite")


def measure(cmd: list, metadata: Path) -> dict:
    """Runs `cmd` sampling its process tree's RSS; per component of the ML Metadata at `metadata`: seconds, peak MB."""
    samples, t0 = [], time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)

    def sample():
        while proc.poll() is None:
            samples.append((time.time(), tree_rss(watched)))
            time.sleep(0.25)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    sampler.join()
    spans = component_spans(metadata) if metadata.exists() else {}
    rows = {}
    for node, (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0]):
        peak = max((rss for t, rss in samples if start <= t <= end), default=0)
        rows[node] = {"seconds": end - start, "peak_mb": peak / 2**20}
    rows["whole run"] = {"seconds": time.time() - t0, "peak_mb": max((r for _, r in samples), default=0) / 2**20}
    return {"rc": rc, "rows": rows, "command": " ".join(cmd[1:])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,8000,20000")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--with-export", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE passed on to every run (repeatable)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.out or tempfile.mkdtemp(prefix="edgeflow-scaling-"))
    results = {}
    for n in sizes:
        data = write_folder(work / f"data-{n}", n // len(CLASSES))
        results[n] = run(data, work / f"out-{n}", args.epochs, args.with_export, args.set)
        print(f"{n} images: exit {results[n]['rc']}, {results[n]['rows']['whole run']['seconds']:.0f} s, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        (work / "results.json").write_text(json.dumps(results, indent=1))
    report(results, sizes)


def report(results: dict, sizes: list) -> None:
    """The table (per component and size: seconds, ms per example, peak MB) and the growth ratios."""
    nodes = list(results[sizes[-1]]["rows"])
    head = "".join(f"{f'{n} s':>9}{'ms/ex':>8}{'MB':>7}" for n in sizes)
    print(f"\n{'component':<24}{head}")
    for node in nodes:
        cells = ""
        for n in sizes:
            r = results[n]["rows"].get(node)
            cells += f"{r['seconds']:9.1f}{1000 * r['seconds'] / n:8.2f}{r['peak_mb']:7.0f}" if r else " " * 24
        print(f"{node:<24}{cells}")
    for a, b in zip(sizes, sizes[1:]):
        print(f"\ngrowth {a} -> {b} ({b / a:.1f}x the data): time per example, peak memory")
        for node in nodes:
            ra, rb = results[a]["rows"].get(node), results[b]["rows"].get(node)
            if ra and rb and ra["seconds"] > 0 and ra["peak_mb"] > 0:
                print(f"  {node:<22}{(rb['seconds'] / b) / (ra['seconds'] / a):6.2f}x {rb['peak_mb'] / ra['peak_mb']:6.2f}x")
    print(f"\ncommand: {results[sizes[-1]]['command']}")

if __name__ == "__main__":
    main()
