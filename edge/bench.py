"""CPU latency of a .tflite model through the device runtime (no TensorFlow).

One invoke of one input at a time, as a device serves it: a few warm-up runs, then
`runs` timed runs; p50 and p95 in milliseconds.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import numpy as np

from edgeflow.edge.runtime import EdgeModel


def all_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def latency_ms(path: str | Path, threads: int = 1, runs: int = 50, warmup: int = 5,
               sample: Optional[np.ndarray] = None) -> dict:
    """{"p50": ms, "p95": ms, "threads": n, "runs": runs} for single-input invokes.

    `sample` is one real-valued input (H, W, C); zeros when omitted.
    """
    model = EdgeModel(path, num_threads=threads)
    shape = model.input_shape
    x = np.zeros((1,) + shape[1:], np.float32) if sample is None else np.asarray(sample, np.float32)[None]
    q = model._quantize(x)
    for _ in range(warmup):
        model.run_one(q)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.run_one(q)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)),
            "threads": threads, "runs": runs}
