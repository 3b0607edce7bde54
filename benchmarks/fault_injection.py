"""Kill `edgeflow run` with SIGKILL at points across the pipeline, run it again, and count what was lost.

    .venv/bin/python benchmarks/fault_injection.py [--rounds 30] [--output DIR] [--seed 0]

Each round: the data folder changes by one image (so every step runs again, nothing is reused from
TFX's cache), `edgeflow run image --preset tiny` starts in its own process group, and when the
console says the round's step has started, a random delay within that step's measured length later
the whole group gets SIGKILL (the converter children of EdgeExport included: a power cut, not a
polite stop). Then, before anything else runs, and after the rerun that follows:

* the serving root holds no partial version: every integer version folder has its ``saved_model.pb``
  and loads with ``tf.saved_model.load`` (so ``edgeflow serve``, which reads the same layout, never
  loads one);
* the rerun (``pipeline.cache=true``, so it reuses what the killed run had finished) exits 0 and
  blesses;
* MLflow holds no RUNNING run and the killed run reads FAILED; ML Metadata holds no NEW or RUNNING
  execution;
* every earlier MLflow run keeps its status, every registered version is still there, every earlier
  serving version is byte-identical.

Steps are taken in turn (so 30 rounds kill each of the 13 points at least twice); `mlflow` is the
record written after the Pusher. Prints one line per round and a summary table; exits 1 if anything
was lost.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STEPS = ["ImageFolderExampleGen", "LatestBlessedModel", "StatisticsGen", "SchemaGen", "ExampleValidator",
         "AnomalyGate", "Transform", "Trainer", "Evaluator", "ShallowBaseline", "EdgeExport", "Pusher", "mlflow"]
START = re.compile(r"^\[\d+/\d+\] (\w+) \.\.\.$")
DONE = re.compile(r"^\[\d+/\d+\] (\w+) done in ([\d.]+)s$")


def edgeflow_run(out: Path, data: Path, cache: bool) -> list:
    cmd = [sys.executable, "-m", "edgeflow.pipelines.cli", "run", "image", "--preset", "tiny",
           "--output", str(out), "--data", str(data)]
    return cmd + (["--set", "pipeline.cache=true"] if cache else [])


def run_to_end(cmd: list) -> tuple:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return proc.returncode, proc.stdout + proc.stderr


def step_seconds(console: str) -> dict:
    return {m.group(1): float(m.group(2)) for m in map(DONE.match, console.splitlines()) if m}


def kill_during(cmd: list, step: str, lengths: dict, rng: random.Random) -> tuple:
    """Runs `cmd` until `step` starts, waits a random part of its length, SIGKILLs the group.
    Returns (the step that was running at the kill, the delay, whether the kill landed)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout], daemon=True).start()
    current, armed_at, delay = None, None, 0.0
    try:
        while proc.poll() is None:
            try:
                line = lines.get(timeout=0.02)
            except queue.Empty:
                line = None
            if line is not None:
                started, done = START.match(line), DONE.match(line)
                if started:
                    current = started.group(1)
                elif done and done.group(1) == current:
                    current = None
                hit = (started and started.group(1) == step) or (step == "mlflow" and done and done.group(1) == "Pusher")
                if hit and armed_at is None:
                    armed_at, delay = time.time(), rng.uniform(0, max(lengths.get(step, 1.0), 0.2))
                    current = "mlflow" if step == "mlflow" else current
            if armed_at is not None and time.time() - armed_at >= delay:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                return current or "between steps", delay, True
        return "finished before the kill", delay, False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def snapshot(out: Path) -> dict:
    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("image")
    runs = {r.info.run_id: r.info.status for r in client.search_runs([exp.experiment_id], max_results=10000)} if exp else {}
    versions = {v.version: v.run_id for v in client.search_model_versions("name = 'image'")}
    serving = {}
    for version in sorted((out / "serving" / "image").glob("[0-9]*")):
        pb = version / "saved_model.pb"
        serving[version.name] = hashlib.sha256(pb.read_bytes()).hexdigest() if pb.is_file() else None
    return {"runs": runs, "versions": versions, "serving": serving}


_LOADED: dict = {}


def partial_versions(out: Path) -> list:
    """Integer version folders under the serving root that are not a whole, loadable SavedModel."""
    import tensorflow as tf

    bad = []
    for version in sorted((out / "serving" / "image").glob("[0-9]*")):
        pb = version / "saved_model.pb"
        key = (version.name, pb.stat().st_size if pb.is_file() else -1)
        if key not in _LOADED:
            try:
                tf.saved_model.load(str(version))
                _LOADED[key] = True
            except Exception as err:  # noqa: BLE001 - what is measured
                _LOADED[key] = f"{err.__class__.__name__}: {str(err)[:120]}"
        if _LOADED[key] is not True:
            bad.append(f"{version.name} ({_LOADED[key]})")
    return bad


def open_executions(out: Path) -> list:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(out / "image" / "metadata.sqlite")
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    return [e.id for e in store.get_executions() if e.last_known_state in (mlmd.Execution.NEW, mlmd.Execution.RUNNING)]


def lost_records(before: dict, after: dict, killed: set) -> list:
    lost = [f"run {r} {s} -> {after['runs'].get(r, 'gone')}" for r, s in before["runs"].items()
            if after["runs"].get(r) != s and r not in killed]
    lost += [f"registered version {v} gone" for v in before["versions"] if v not in after["versions"]]
    lost += [f"serving version {v} changed or gone" for v, h in before["serving"].items()
             if h is not None and after["serving"].get(v) != h]
    return lost


def change_data(data: Path, spare: Path, round_no: int) -> None:
    """Moves one image between the data folder and a spare folder: new data, so no step is reused."""
    cls = sorted(p for p in data.iterdir() if p.is_dir())[round_no % 10]
    parked = spare / cls.name
    parked.mkdir(parents=True, exist_ok=True)
    if any(parked.iterdir()):
        for f in list(parked.iterdir()):
            shutil.move(str(f), cls / f.name)
    else:
        f = sorted(cls.iterdir())[0]
        shutil.move(str(f), parked / f.name)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--output", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated kill points, taken in turn")
    args = ap.parse_args()
    import edgeflow  # noqa: F401
    from edgeflow.pipelines.bundled.digits import write_digits_folder

    steps = args.steps.split(",")
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        ap.error(f"unknown kill points {unknown}; choose from {','.join(STEPS)}")
    rng = random.Random(args.seed)
    work = Path(args.output or tempfile.mkdtemp(prefix="edgeflow-faults-"))
    data = write_digits_folder(work / "data", args.per_class)
    out, spare = work / "out", work / "spare"
    t0 = time.time()
    rc, console = run_to_end(edgeflow_run(out, data, cache=False))
    if rc != 0:
        print(console[-3000:])
        return 1
    lengths = {**step_seconds(console), "mlflow": 3.0}
    print(f"first run: {time.time() - t0:.0f}s; step seconds " + ", ".join(f"{k} {v:.1f}" for k, v in lengths.items()),
          flush=True)
    rows, problems = [], []
    for i in range(args.rounds):
        step = steps[i % len(steps)]
        change_data(data, spare, i)
        before = snapshot(out)
        t = time.time()
        at, delay, killed = kill_during(edgeflow_run(out, data, cache=True), step, lengths, rng)
        partial = partial_versions(out)
        running = [r for r, s in snapshot(out)["runs"].items() if s == "RUNNING"]
        rc, console = run_to_end(edgeflow_run(out, data, cache=True))
        after = snapshot(out)
        blessed = "blessed:  yes" in console
        still_running = [r for r, s in after["runs"].items() if s == "RUNNING"]
        not_failed = [r for r in running if after["runs"].get(r) != "FAILED"]
        row = {"round": i + 1, "step": step, "killed in": at, "delay": delay, "partial": len(partial) + len(partial_versions(out)),
               "rerun rc": rc, "blessed": blessed, "left RUNNING": len(still_running) + len(not_failed),
               "open executions": len(open_executions(out)), "lost": lost_records(before, after, set(running)),
               "seconds": time.time() - t}
        rows.append(row)
        print(f"round {i + 1:2d}  kill at {step:22s} +{delay:5.1f}s  ran: {at:22s}  partial versions {row['partial']}  "
              f"rerun rc {rc} blessed {'yes' if blessed else 'no '}  RUNNING after {row['left RUNNING']}  "
              f"open MLMD executions {row['open executions']}  lost {len(row['lost'])}  {row['seconds']:.0f}s", flush=True)
        if rc != 0 or row["partial"] or row["left RUNNING"] or row["open executions"] or row["lost"] or not killed:
            problems.append((row, console[-2000:] if rc != 0 else ""))
    print(f"\n{len(rows)} rounds in {time.time() - t0:.0f}s")
    print(f"{'killed during':24} {'kills':>5}")
    for name in STEPS + ["between steps", "finished before the kill"]:
        n = sum(r["killed in"] == name for r in rows)
        if n:
            print(f"{name:24} {n:5d}")
    print(f"partial versions seen: {sum(r['partial'] for r in rows)}; runs left RUNNING: "
          f"{sum(r['left RUNNING'] for r in rows)}; open ML Metadata executions: {sum(r['open executions'] for r in rows)}; "
          f"earlier records lost: {sum(len(r['lost']) for r in rows)}; reruns completed: "
          f"{sum(r['rerun rc'] == 0 for r in rows)}/{len(rows)}, blessed {sum(r['blessed'] for r in rows)}/{len(rows)}")
    for row, tail in problems:
        print(f"PROBLEM round {row['round']}: {row}\n{tail}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
