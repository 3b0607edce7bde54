"""Times one default image pipeline run (after setup) and reports its eval accuracy.

    .venv/bin/python benchmarks/pipeline_run.py [--preset default] [--output DIR]

Prints each component's wall time and its share of the run, the total, and the accuracy.
"""
import argparse
import tempfile
import time

import edgeflow  # noqa: F401
from edgeflow.config import load_config
from edgeflow.pipelines.runner import run_pipeline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="default")
    ap.add_argument("--output", default=None)
    args = ap.parse_args()
    out = args.output or tempfile.mkdtemp(prefix="edgeflow-bench-")
    cfg = load_config("image", args.preset, updates={"output": out})
    t0 = time.time()
    outcome = run_pipeline(cfg)
    total = time.time() - t0
    print(f"\n{'component':24} {'seconds':>8} {'share':>6}")
    for node, sec in outcome.component_seconds.items():
        print(f"{node:24} {sec:8.1f} {sec / total:6.1%}")
    print(f"{'total (incl. setup, MLflow)':24} {total:8.1f}")
    print(f"eval accuracy {outcome.results.metrics.get('accuracy', float('nan')):.4f}  "
          f"blessed {outcome.results.blessed}  epochs {len(outcome.results.history)}")


if __name__ == "__main__":
    main()
