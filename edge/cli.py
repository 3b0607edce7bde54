"""``edgeflow-edge``: run an exported .tflite on a device. Imports no TensorFlow.

    edgeflow-edge predict MODEL.tflite IMAGE [IMAGE ...]   top-1 class per image
    edgeflow-edge bench MODEL.tflite [--threads N] [--runs N]
    edgeflow-edge check MODEL.tflite                        Edge TPU compatibility
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

import edgeflow  # noqa: F401 - quiet environment; imports no TensorFlow
from edgeflow import EdgeflowError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeflow-edge", description="Run edgeflow's .tflite models on a device.")
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="classify image files")
    pr.add_argument("model")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--threads", type=int, default=None)
    pr.add_argument("--json", action="store_true", help="one JSON object per line")
    b = sub.add_parser("bench", help="CPU latency p50/p95 of one-input invokes")
    b.add_argument("model")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--runs", type=int, default=100)
    c = sub.add_parser("check", help="Edge TPU compatibility read from the file")
    c.add_argument("model")
    return p


def _predict(args) -> int:
    from edgeflow.edge.runtime import EdgeModel, classify

    model = EdgeModel(args.model, num_threads=args.threads)
    for p in classify(model, args.images):
        if args.json:
            print(json.dumps(p.__dict__))
        else:
            print(f"{p.source}\t{p.label}\t{p.score:.4f}")
    return 0


def _bench(args) -> int:
    from edgeflow.edge.bench import latency_ms

    r = latency_ms(args.model, threads=args.threads, runs=args.runs)
    print(f"{args.model}: p50 {r['p50']:.3f} ms  p95 {r['p95']:.3f} ms  ({r['runs']} runs, {r['threads']} threads)")
    return 0


def _check(args) -> int:
    from edgeflow.edge.edgetpu import check_edgetpu

    report = check_edgetpu(args.model)
    print(report.summary())
    for problem in report.problems:
        print(f"  op {problem.index} {problem.op}: {problem.reason}")
    return 0 if report.compatible else 2


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"predict": _predict, "bench": _bench, "check": _check}[args.command](args)
    except EdgeflowError as err:
        print(f"edgeflow-edge: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
