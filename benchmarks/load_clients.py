"""One load-generator process: `--clients` concurrent gRPC clients (grpc.aio, one channel each)
sending the same serialized ``PredictRequest`` to ``PredictionService/Predict`` in a loop.

It imports neither TensorFlow nor the protos (requests and answers stay bytes), so the load
generator costs as little CPU as Python's gRPC allows, and several such processes can share
one load (``serving_load.py --client-processes``). Every client connects and sends one
untimed request, then all start at `--start-at` (a wall-clock time) and stop at
`--start-at + --seconds` or after `--max-requests` answers in this process. Writes the
latencies (seconds, float64) to `--latencies` and prints ``{"answered": n, "failed": n}``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from array import array

import grpc

PREDICT = "/tensorflow.serving.PredictionService/Predict"


async def client(target: str, request: bytes, start_at: float, end_at: float, budget: list,
                 latencies: array, failed: list) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        predict = channel.unary_unary(PREDICT)  # bytes in, bytes out
        await predict(request, timeout=60)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        while time.time() < end_at and budget[0] > 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            try:
                await predict(request, timeout=60)
            except grpc.aio.AioRpcError:
                failed[0] += 1
                continue
            latencies.append(time.perf_counter() - t0)


async def run(args) -> dict:
    request = open(args.request, "rb").read()
    latencies, failed, budget = array("d"), [0], [args.max_requests]
    end_at = args.start_at + args.seconds
    await asyncio.gather(*(client(args.target, request, args.start_at, end_at, budget, latencies, failed)
                           for _ in range(args.clients)))
    with open(args.latencies, "wb") as f:
        latencies.tofile(f)
    return {"answered": len(latencies), "failed": failed[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--request", required=True, help="a file holding one serialized PredictRequest")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--max-requests", type=int, required=True)
    parser.add_argument("--latencies", required=True)
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
