"""Load on `edgeflow serve` over loopback gRPC, against the in-process signature as the limit.

Measured side by side in one run, 32 concurrent clients unless noted (one gRPC channel each,
one 8x8 PNG per ``Predict``; clients are grpc.aio coroutines in ``--client-processes``
processes of ``load_clients.py``, which send and receive bytes and import no TensorFlow):

* ceilings: the load generator against a gRPC server that answers canned bytes (``echo``),
  and against a Python ``PredictionService`` that parses the request and answers a fixed
  ``PredictResponse`` without running a model (``no model``: the protocol's ceiling);
* ``edgeflow serve`` with batching on (1 and ``--workers`` processes) and off, at 1, 8 and 32 clients;

each as requests/s, p50/p99 latency, failed requests and server memory, and as a ratio to the
SavedModel's ``serving_default`` called in-process over the same image, one per call and 32 per
call (the batched limit). Bounded: each level runs for --seconds or --max-requests.
``--soak SECONDS`` instead runs 32 clients against batching on for that long, sampling the
server's resident memory every --sample-seconds.

    .venv/bin/python benchmarks/serving_load.py [--model <serving root>/<model>/<version>] [--seconds 5]
    .venv/bin/python benchmarks/serving_load.py --model ... --soak 120

Without --model it trains the tiny image pipeline into a temporary folder first (about a minute).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import edgeflow  # noqa: F401 - environment first

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving.servers import ServerProcess, free_port  # noqa: E402 - free ports, start, wait, SIGTERM

HERE = Path(__file__).resolve().parent
LEVELS = (1, 8, 32)


def percentile(latencies, q):
    return float(np.percentile(latencies, q) * 1000) if len(latencies) else float("nan")


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


def rss_mb(pids) -> float:
    """Resident memory of the processes `pids`, summed, in MB (0 for one that has gone)."""
    total = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return total / 1024


def server_pids(pid: int):
    """The server process and its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid] + [int(c) for c in children.read_text().split()] if children.exists() else [pid]


def load(target: str, request_file: Path, clients: int, seconds: float, max_requests: int, processes: int,
         on_wait=None):
    """(requests/s, p50 ms, p99 ms, failed): `clients` clients spread over `processes` processes."""
    start_at = time.time() + 3.0  # every client connects and sends one untimed request first
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    runs = []
    for i, share in enumerate(s for s in shares if s):
        latency_file = request_file.parent / f"latencies-{i}.bin"
        cmd = [sys.executable, str(HERE / "load_clients.py"), "--target", target, "--request", str(request_file),
               "--clients", str(share), "--start-at", str(start_at), "--seconds", str(seconds),
               "--max-requests", str(max(1, max_requests * share // clients)), "--latencies", str(latency_file)]
        runs.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True), latency_file))
    if on_wait:
        on_wait(start_at, runs)
    latencies, failed, end = [], 0, start_at
    for process, latency_file in runs:
        out, _ = process.communicate()
        end = max(end, time.time())
        failed += json.loads(out.strip().splitlines()[-1])["failed"]
        latencies.append(np.fromfile(latency_file))
    latencies = np.concatenate(latencies)
    elapsed = min(seconds, end - start_at)
    return len(latencies) / elapsed, percentile(latencies, 50), percentile(latencies, 99), failed


# ---- the ceilings: servers that do not run a model ---------------------------------------------
def ceiling_server(kind: str, port: int) -> None:
    """Serves ``Predict`` on `port` without a model: canned bytes (echo) or a parsed request and a
    fixed PredictResponse built with edgeflow's tensor conversion (no model). Runs until killed."""
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from edgeflow.serving.tensors import from_tensor_proto, to_tensor_proto

    outputs = {"probabilities": np.zeros((1, 10), np.float32), "class_id": np.zeros((1,), np.int64),
               "class_name": np.array([b"0"], dtype=object)}

    class NoModel(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            {alias: from_tensor_proto(proto) for alias, proto in request.inputs.items()}
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(request.model_spec)
            for alias, value in outputs.items():
                to_tensor_proto(value, response.outputs[alias])
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    if kind == "echo":
        canned = NoModel().Predict(predict_pb2.PredictRequest(), None).SerializeToString()
        handler = grpc.unary_unary_rpc_method_handler(lambda request, context: canned)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "tensorflow.serving.PredictionService", {"Predict": handler})])
    else:
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(NoModel(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def start_ceiling(kind: str):
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--ceiling-server", kind, "--port", str(port)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process, f"127.0.0.1:{port}"


# ---- the run --------------------------------------------------------------------------------------
def trained_model(workdir: Path) -> str:
    from edgeflow.config import load_config
    from edgeflow.pipelines.runner import run_pipeline

    cfg = load_config("image", "tiny", updates={"output": str(workdir / "run"), "tracking": {"enabled": False}})
    return run_pipeline(cfg).results.pushed_path


def start_server(workdir: Path, batch_size: int, workers: int, timeout_ms: float) -> ServerProcess:
    server = ServerProcess("edgeflow", workdir / "root", workdir / f"server-{batch_size}-{workers}.log",
                           extra=["--set", f"serving.max_batch_size={batch_size}", "--set",
                                  f"serving.batch_timeout_ms={timeout_ms}", "--set", f"serving.workers={workers}"])
    server.wait_available("image")
    time.sleep(2.0 * (workers > 1))  # the extra workers load the model too
    return server


def table(args, workdir: Path, request_file: Path, single: float, batched: float) -> None:
    print(f"{'server':<26}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}"
          f"{'x 1-call':>10}{'x batched':>11}{'RSS MB':>14}", flush=True)

    def row(label, clients, rate, p50, p99, failed, memory=""):
        print(f"{label:<26}{clients:>8}{rate:>9.0f}{p50:>9.2f}{p99:>9.2f}{failed:>8}"
              f"{rate / single:>10.2f}{rate / batched:>11.2f}{memory:>14}", flush=True)

    for kind, label in (("echo", "ceiling: echo bytes"), ("predict", "ceiling: Predict, no model")):
        process, target = start_ceiling(kind)
        try:
            row(label, 32, *load(target, request_file, 32, args.seconds, args.max_requests, args.client_processes))
        finally:
            process.kill()
            process.wait()
    configs = [("batching on, 1 worker", 32, 1), (f"batching on, {args.workers} workers", 32, args.workers),
               ("batching off, 1 worker", 1, 1)]
    for label, batch_size, workers in configs:
        server = start_server(workdir, batch_size, workers, args.batch_timeout_ms)
        try:
            for clients in LEVELS:
                pids = server_pids(server.process.pid)
                before = rss_mb(pids)
                result = load(server.target, request_file, clients, args.seconds, args.max_requests,
                              args.client_processes)
                row(label, clients, *result, f"{before:.0f}->{rss_mb(pids):.0f}")
        finally:
            server.stop()


def soak(args, workdir: Path, request_file: Path) -> None:
    server = start_server(workdir, 32, 1, args.batch_timeout_ms)
    samples = []

    def sample(start_at, runs):
        time.sleep(max(0.0, start_at - time.time()))
        while any(p.poll() is None for p, _ in runs):
            samples.append((time.time() - start_at, rss_mb([server.process.pid])))
            time.sleep(args.sample_seconds)

    try:
        rate, p50, p99, failed = load(server.target, request_file, 32, args.soak, 10 ** 9, args.client_processes,
                                      on_wait=sample)
    finally:
        server.stop()
    memory = [m for _, m in samples]
    print("RSS MB every ~%.0f s: %s" % (args.sample_seconds, " ".join(f"{m:.0f}" for m in memory)))
    print(f"soak: {args.soak:.0f} s at 32 clients, batching on: {rate:.0f} req/s, p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms, failed {failed}; server RSS start {memory[0]:.0f} MB, end {memory[-1]:.0f} MB, "
          f"max {max(memory):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a pushed SavedModel (default: train the tiny image pipeline)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per level (default 5)")
    parser.add_argument("--batch-timeout-ms", type=float, default=0.0, help="serving.batch_timeout_ms (default 0)")
    parser.add_argument("--max-requests", type=int, default=100000, help="per level (default 100000)")
    parser.add_argument("--workers", type=int, default=2, help="serving.workers of the second batching row")
    parser.add_argument("--client-processes", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--soak", type=float, help="run only the memory soak, this many seconds")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="soak: RSS sampling period")
    parser.add_argument("--ceiling-server", choices=["echo", "predict"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling_server:
        return ceiling_server(args.ceiling_server, args.port)
    workdir = Path(tempfile.mkdtemp(prefix="serving-load-"))
    try:
        model = args.model or trained_model(workdir)
        (workdir / "root" / "image").mkdir(parents=True)
        shutil.copytree(model, workdir / "root" / "image" / "1")
        image = tf.io.encode_png(tf.cast(tf.random.uniform([8, 8, 1], 0, 255, seed=1), tf.uint8)).numpy()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "image"
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image]))
        request_file = workdir / "request.bin"
        request_file.write_bytes(request.SerializeToString())
        print(f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; batch timeout "
              f"{args.batch_timeout_ms} ms; client processes {args.client_processes}; model {model}", flush=True)
        if args.soak:
            return soak(args, workdir, request_file)
        single, single_p50, single_p99 = in_process(model, image, 1, args.seconds, args.max_requests)
        batched, batched_p50, _ = in_process(model, image, 32, args.seconds, args.max_requests)
        print(f"in-process, 1 image per call:   {single:8.0f} images/s  p50 {single_p50:6.2f} ms  p99 {single_p99:6.2f} ms")
        print(f"in-process, 32 images per call: {batched:8.0f} images/s  p50 {batched_p50:6.2f} ms per call (the limit)")
        table(args, workdir, request_file, single, batched)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
