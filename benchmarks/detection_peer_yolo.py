"""The Ultralytics side of benchmarks/detection_peer.py; runs in the peer's own virtual environment.

Imports nothing from edgeflow (that venv has only ultralytics, torch and pycocotools). One call:
YOLOv8n from scratch on ``data.yaml`` -> the last epoch's weights -> COCO detections on the eval
images in ``manifest.json`` -> batch-1 CPU latency; everything measured goes to ``result.json``.

    PEER_PYTHON benchmarks/detection_peer_yolo.py WORK --epochs 30 --imgsz 128 --threads 1,2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def offline_environment(work: Path) -> None:
    """No downloads (fonts, assets, weights), no analytics, settings kept in the work folder."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics-config"))
    os.environ.setdefault("MPLBACKEND", "Agg")


def train(work: Path, epochs: int, imgsz: int, workers: int, seed: int) -> tuple:
    """(seconds inside model.train(), path of the last epoch's weights)."""
    from ultralytics import YOLO, settings

    settings.update({"sync": False})
    model = YOLO("yolov8n.yaml")  # the architecture only: random weights
    t0 = time.perf_counter()
    # val=False: no model selection on the eval images; the last epoch's (EMA) weights are what is scored.
    model.train(data=str(work / "yolo" / "data.yaml"), epochs=epochs, imgsz=imgsz, device="cpu", workers=workers,
                pretrained=False, amp=False, val=False, plots=False, seed=seed, deterministic=True,
                project=str(work / "yolo-runs"), name="train", exist_ok=True, verbose=False)
    seconds = time.perf_counter() - t0
    return seconds, work / "yolo-runs" / "train" / "weights" / "last.pt"


def predict(weights: Path, manifest: list, imgsz: int, conf: float, iou: float, max_det: int) -> tuple:
    """(COCO detections [{image_id, category_id, bbox [x, y, w, h] px, score}], median ms per image)."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    detections, times = [], []
    for item in manifest:
        t0 = time.perf_counter()
        result = model.predict(item["path"], imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, device="cpu",
                               verbose=False)[0]
        times.append((time.perf_counter() - t0) * 1000)
        boxes = result.boxes
        for (x0, y0, x1, y1), score, cls in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist()):
            detections.append({"image_id": item["id"], "category_id": item["category_ids"][int(cls)],
                               "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
    return detections, statistics.median(times[5:] or times)


def forward_latency(weights: Path, imgsz: int, threads: int, runs: int, warmup: int) -> dict:
    """Median and p95 ms of the fused PyTorch network on one (1, 3, imgsz, imgsz) input, no pre/post-processing."""
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    net = YOLO(str(weights)).model.float().eval().fuse()  # Conv+BN fused, as Ultralytics' predictor runs it
    x = torch.rand(1, 3, imgsz, imgsz)
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            net(x)
        for _ in range(runs):
            t0 = time.perf_counter()
            net(x)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))], "threads": threads,
            "runs": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path, help="holds yolo/data.yaml and manifest.json; result.json is written here")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--conf", type=float, default=0.001)
    ap.add_argument("--iou", type=float, default=0.7)
    ap.add_argument("--max-det", type=int, default=100)
    ap.add_argument("--threads", default="1", help="comma-separated torch thread counts for the latency")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    offline_environment(args.work)
    import torch
    import ultralytics

    manifest = json.loads((args.work / "manifest.json").read_text())
    seconds, weights = train(args.work, args.epochs, args.imgsz, args.workers, args.seed)
    print(f"peer: trained {args.epochs} epochs in {seconds:.1f} s", flush=True)
    detections, predict_ms = predict(weights, manifest, args.imgsz, args.conf, args.iou, args.max_det)
    latency = [forward_latency(weights, args.imgsz, int(t), args.runs, args.warmup) for t in args.threads.split(",")]
    result = {"train_seconds": seconds, "epochs": args.epochs, "weights": str(weights), "detections": detections,
              "predict_ms": predict_ms, "latency": latency, "conf": args.conf, "iou": args.iou,
              "ultralytics": ultralytics.__version__, "torch": torch.__version__,
              "python": sys.version.split()[0]}
    with tempfile.NamedTemporaryFile("w", dir=args.work, delete=False) as f:
        json.dump(result, f)
    os.replace(f.name, args.work / "result.json")
    print(f"peer: {len(detections)} detections, forward p50 "
          + ", ".join(f"{r['p50']:.2f} ms ({r['threads']} thr)" for r in latency), flush=True)


if __name__ == "__main__":
    main()
