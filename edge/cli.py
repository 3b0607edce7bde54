"""``edgeflow-edge``: run an exported .tflite on a device. Imports no TensorFlow.

    edgeflow-edge predict MODEL.tflite INPUT [INPUT ...]   by the model info's task:
        classification: IMAGE files -> top-1 class and score per image
        forecast:       CSV files   -> the next `horizon` values after each file's last window
        detection:      IMAGE files -> boxes (pixels of the image), class names and scores
    edgeflow-edge bench MODEL.tflite [--threads N] [--runs N]
    edgeflow-edge check MODEL.tflite                        Edge TPU compatibility
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import List, Optional

import edgeflow  # noqa: F401 - quiet environment; imports no TensorFlow
from edgeflow import EdgeflowError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeflow-edge", description="Run edgeflow's .tflite models on a device.")
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="classify or detect in images, or forecast from CSV files")
    pr.add_argument("model")
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or CSV files for a forecaster")
    pr.add_argument("--threads", type=int, default=None)
    pr.add_argument("--json", action="store_true", help="one JSON object per line (per input)")
    pr.add_argument("--score-threshold", type=float, default=None,
                    help="detection: keep boxes scoring above this (default: the model info's)")
    b = sub.add_parser("bench", help="CPU latency p50/p95 of one-input invokes")
    b.add_argument("model")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--runs", type=int, default=100)
    c = sub.add_parser("check", help="Edge TPU compatibility read from the file")
    c.add_argument("model")
    return p


def _predict(args) -> int:
    from edgeflow.edge.runtime import EdgeModel, EdgeRuntimeError

    model = EdgeModel(args.model, num_threads=args.threads)
    task = model.info.get("task", "classification")
    printers = {"classification": _print_classes, "forecast": _print_forecasts, "detection": _print_detections}
    if task not in printers:
        raise EdgeRuntimeError(f"the model info's task {task!r} is not one of {', '.join(printers)}; "
                               "upgrade edgeflow-edge or export the model again")
    printers[task](model, args)
    return 0


def _print_classes(model, args) -> None:
    from edgeflow.edge.runtime import classify

    for p in classify(model, args.inputs):
        print(json.dumps(asdict(p)) if args.json else f"{p.source}\t{p.label}\t{p.score:.4f}")


def _print_forecasts(model, args) -> None:
    from edgeflow.edge.forecast import forecast

    for f in forecast(model, args.inputs):
        if args.json:
            print(json.dumps(asdict(f)))
        else:
            print(f"{f.source}\t{f.target}\t" + "\t".join(f"t+{k}={v:.4f}" for k, v in enumerate(f.values, 1)))


def _print_detections(model, args) -> None:
    from edgeflow.edge.detector import detect_images

    for image in detect_images(model, args.inputs, args.score_threshold):
        if args.json:
            print(json.dumps(asdict(image)))
            continue
        if not image.detections:
            print(f"{image.source}\t(nothing found)")
        for b in image.detections:
            print(f"{image.source}\t{b.label}\t{b.score:.4f}\t" + ",".join(f"{v:.1f}" for v in b.box))


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
