"""Load on `edgeflow serve` over loopback gRPC, against the in-process signature as the limit.

For 1, 8 and 32 concurrent clients (one gRPC channel each, one image per request) it reports
requests/s, p50 and p99 latency, failed requests and the server's resident memory, for the
server with batching on and off, each as a ratio to calling the SavedModel's signature
in-process over the same inputs (one image per call, and the batched limit: 32 per call).
Bounded: every level runs for --seconds or --max-requests, whichever ends first.

    .venv/bin/python benchmarks/serving_load.py [--model <serving root>/<model>/<version>] [--seconds 10]

Without --model it trains the tiny image pipeline into a temporary folder first (about a minute).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import edgeflow  # noqa: F401 - environment first

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving.servers import ServerProcess  # noqa: E402 - free ports, start, wait, SIGTERM

LEVELS = (1, 8, 32)


def percentile(latencies, q):
    return float(np.percentile(latencies, q) * 1000) if latencies else float("nan")


def in_process(model_dir: str, image: bytes, batch: int, seconds: float, max_calls: int):
    """(images/s, p50 ms, p99 ms) of the signature called in this process, `batch` images per call."""
    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    images = tf.constant([image] * batch)
    signature(image_bytes=images)  # warm up
    latencies, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds and len(latencies) < max_calls:
        t0 = time.perf_counter()
        signature(image_bytes=images)["probabilities"].numpy()
        latencies.append(time.perf_counter() - t0)
    return batch * len(latencies) / (time.perf_counter() - start), percentile(latencies, 50), percentile(latencies, 99)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(target: str, image: bytes, clients: int, seconds: float, max_requests: int):
    """(requests/s, p50 ms, p99 ms, failed) with `clients` threads calling Predict in a loop."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "image"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image]))
    latencies, failures, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + seconds

    def client():
        with grpc.insecure_channel(target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            stub.Predict(request, timeout=30)  # connect and warm up, not timed
            barrier.wait()
            while time.perf_counter() < deadline and len(latencies) < max_requests:
                t0 = time.perf_counter()
                try:
                    stub.Predict(request, timeout=30)
                except grpc.RpcError:
                    failures[0] += 1
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    deadline = start + seconds
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - start), percentile(latencies, 50), percentile(latencies, 99), failures[0]


def trained_model(workdir: Path) -> str:
    from edgeflow.pipelines.config import load_config
    from edgeflow.pipelines.runner import run_pipeline

    cfg = load_config("image", "tiny", updates={"output": str(workdir / "run"), "tracking": {"enabled": False}})
    return run_pipeline(cfg).results.pushed_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a pushed SavedModel (default: train the tiny image pipeline)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per level (default 10)")
    parser.add_argument("--batch-timeout-ms", type=float, default=0.0, help="serving.batch_timeout_ms (default 0)")
    parser.add_argument("--max-requests", type=int, default=20000, help="per level (default 20000)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="serving-load-"))
    try:
        model = args.model or trained_model(workdir)
        (workdir / "root" / "image").mkdir(parents=True)
        shutil.copytree(model, workdir / "root" / "image" / "1")
        image = tf.io.encode_png(tf.cast(tf.random.uniform([8, 8, 1], 0, 255, seed=1), tf.uint8)).numpy()
        single, single_p50, single_p99 = in_process(model, image, 1, args.seconds, args.max_requests)
        batched, batched_p50, _ = in_process(model, image, 32, args.seconds, args.max_requests)
        print(f"cores: {os.cpu_count()}; batch timeout {args.batch_timeout_ms} ms; model {model}")
        print(f"in-process, 1 image per call:   {single:8.0f} images/s  p50 {single_p50:6.2f} ms  p99 {single_p99:6.2f} ms")
        print(f"in-process, 32 images per call: {batched:8.0f} images/s  p50 {batched_p50:6.2f} ms per call (the limit)")
        print(f"{'server':<14}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}"
              f"{'x 1-call':>10}{'x batched':>11}{'RSS MB':>16}")
        for label, batch_size in (("batching on", 32), ("batching off", 1)):
            server = ServerProcess("edgeflow", workdir / "root", workdir / f"server-{batch_size}.log",
                                   extra=["--set", f"serving.max_batch_size={batch_size}",
                                          "--set", f"serving.batch_timeout_ms={args.batch_timeout_ms}"])
            try:
                server.wait_available("image")
                for clients in LEVELS:
                    before = rss_mb(server.process.pid)
                    rate, p50, p99, failed = load(server.target, image, clients, args.seconds, args.max_requests)
                    print(f"{label:<14}{clients:>8}{rate:>9.0f}{p50:>9.2f}{p99:>9.2f}{failed:>8}"
                          f"{rate / single:>10.2f}{rate / batched:>11.2f}"
                          f"{before:>8.0f}->{rss_mb(server.process.pid):.0f}", flush=True)
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
