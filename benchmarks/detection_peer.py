"""edgeflow's detector beside Ultralytics YOLOv8n from scratch, same images, one run (issue #19, item 5).

    .venv/bin/python benchmarks/detection_peer.py [--out DIR] [--images 500] [--seed 11] [--peer-epochs 30]
                                                  [--peer-venv DIR] [--set KEY=VALUE]

1. Data: benchmarks/detection_heldout.py's colour shapes (96-128 px, COCO JSON), written to ``DIR/set``.
2. edgeflow: ``edgeflow run detection --data DIR/set --no-tracking --output DIR/edgeflow`` (export on, so
   EdgeExport leaves the int8 .tflite for a blessed model). Its train/eval split (a hash of each image's
   path, TFX's ``hash_buckets``) is read back from the ExampleGen's own examples, so the peer trains on
   exactly edgeflow's train images and both are scored on exactly its eval images.
3. YOLOv8n: ``YOLO("yolov8n.yaml")`` (random weights), ``pretrained=False, amp=False, device="cpu"``,
   ``imgsz=128``, in its own virtual environment (created with ``pip install ultralytics pycocotools`` if
   missing; Ultralytics is never an edgeflow dependency), run as a child process of that venv's Python
   (benchmarks/detection_peer_yolo.py) with ``YOLO_OFFLINE=1``. The YOLO txt layout (images/{train,val},
   labels/{train,val}, data.yaml) is written from the same COCO JSON and split. ``val=False``: the last
   epoch's weights are scored, nothing is selected on the eval images.
4. mAP: pycocotools on the eval images against the COCO ground truth, boxes in each image's own pixels:
   edgeflow's SavedModel (``serving_raw`` + the device's NumPy decode/NMS, score >= 0.001, its NMS IoU),
   its int8 .tflite through the device runtime (``edgeflow.edge.detector``, same thresholds), and
   YOLOv8n's ``predict(conf=0.001, iou=0.7)``; at most 100 detections per image for all.
5. Latency, batch 1 on the CPU, median of ``--runs`` after ``--warmup``: the int8 .tflite's invoke
   (``edgeflow.edge.bench``, LiteRT) and the fused YOLOv8n PyTorch network's forward, at 1 thread and
   at every core (``torch.set_num_threads``), neither with pre- or post-processing.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detection_heldout import CLASSES, write_set  # noqa: E402

PEER_SCRIPT = Path(__file__).with_name("detection_peer_yolo.py")
PEER_PACKAGES = ("ultralytics", "pycocotools")
SCORE_THRESHOLD = 0.001  # both sides: mAP integrates over the whole PR curve
MAX_DETECTIONS = 100  # COCO's maxDets for mAP
PEER_IOU = 0.7  # Ultralytics' own val default


# ---- data: COCO JSON -> YOLO txt layout on edgeflow's split -------------------------------------------------

def yolo_labels(doc: dict) -> Dict[str, List[str]]:
    """file_name -> ``class cx cy w h`` lines (normalized) for every image of a COCO document.

    Class k is the k-th category in id order, as edgeflow's COCO reader numbers them; crowd boxes are left out.
    """
    index = {c["id"]: i for i, c in enumerate(sorted(doc["categories"], key=lambda c: c["id"]))}
    images = {im["id"]: im for im in doc["images"]}
    lines: Dict[str, List[str]] = {im["file_name"]: [] for im in doc["images"]}
    for ann in doc["annotations"]:
        if ann.get("iscrowd"):
            continue
        im = images[ann["image_id"]]
        x, y, w, h = (float(v) for v in ann["bbox"])
        W, H = float(im["width"]), float(im["height"])
        lines[im["file_name"]].append(
            f"{index[ann['category_id']]} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}")
    return lines


def write_yolo_layout(root: Path, doc: dict, splits: Dict[str, Sequence[str]], out: Path) -> Path:
    """`out`/images/<split>/, labels/<split>/ and data.yaml for `splits` (split -> file names under root/images)."""
    labels = yolo_labels(doc)
    names = [c.get("name", str(c["id"])) for c in sorted(doc["categories"], key=lambda c: c["id"])]
    for split, files in splits.items():
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(root / "images" / name, out / "images" / split / name)
            (out / "labels" / split / f"{Path(name).stem}.txt").write_text("".join(f"{line}\n" for line in labels[name]))
    yaml = [f"path: {out.resolve()}", "train: images/train", "val: images/val", "names:"]
    yaml += [f"  {i}: {json.dumps(n)}" for i, n in enumerate(names)]
    (out / "data.yaml").write_text("\n".join(yaml) + "\n")
    return out / "data.yaml"


def split_files(output: Path) -> Dict[str, List[str]]:
    """{"train": [...], "eval": [...]}: the image file names in each split of the ExampleGen's examples."""
    from edgeflow.models.features import PATH_KEY
    from edgeflow.models.splits import iter_examples

    roots = sorted((output / "detection" / "pipeline_root" / "DetectionExampleGen" / "examples").glob("*"))
    if len(roots) != 1:
        raise SystemExit(f"expected one DetectionExampleGen output under {output}, found {len(roots)}; "
                         "use a fresh --out folder")
    return {split: sorted(Path(e.features.feature[PATH_KEY].bytes_list.value[0].decode()).name
                          for e in iter_examples(str(roots[0] / f"Split-{split}"))) for split in ("train", "eval")}


# ---- the two trainings ------------------------------------------------------------------------------------

def run_edgeflow(data: Path, out: Path, sets: Sequence[str]) -> dict:
    """One ``edgeflow run detection`` (export on) in a fresh output folder; its seconds, metrics and files."""
    from edgeflow.pipelines.results import read_run

    cmd = [str(Path(sys.executable).with_name("edgeflow")), "run", "detection", "--data", str(data),
           "--no-tracking", "--output", str(out)] + [a for s in sets for a in ("--set", s)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    (out / "console.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise SystemExit(f"edgeflow run detection failed (exit {proc.returncode}); see {out / 'console.txt'}:\n"
                         + (proc.stdout + proc.stderr)[-2000:])
    seconds = {m.group(1): float(m.group(2))
               for m in re.finditer(r"\] (\w+) done in ([\d.]+)s", proc.stdout + proc.stderr)}
    results = read_run(out / "detection" / "metadata.sqlite", "detection")
    int8 = sorted((out / "detection" / "pipeline_root" / "EdgeExport").glob("**/int8.tflite"))
    return {"wall": wall, "trainer": seconds.get("Trainer", float("nan")), "components": seconds,
            "results": results, "int8": int8[0] if int8 else None, "epochs": len(results.history),
            "command": " ".join(["edgeflow"] + cmd[1:])}


def peer_python(venv_dir: Path) -> Path:
    """The peer venv's Python, after creating the venv and installing PEER_PACKAGES when they are missing."""
    python = venv_dir / "bin" / "python"
    check = [str(python), "-c", "import ultralytics, pycocotools, torch"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"peer venv: creating {venv_dir} and installing {', '.join(PEER_PACKAGES)} (PyTorch comes with it; "
          "a few GB)", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv_dir)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    subprocess.run(check, check=True)
    return python


def run_peer(python: Path, work: Path, epochs: int, imgsz: int, threads: Sequence[int], runs: int,
             warmup: int, seed: int) -> dict:
    cmd = [str(python), str(PEER_SCRIPT), str(work), "--epochs", str(epochs), "--imgsz", str(imgsz),
           "--threads", ",".join(map(str, threads)), "--runs", str(runs), "--warmup", str(warmup),
           "--seed", str(seed), "--iou", str(PEER_IOU), "--conf", str(SCORE_THRESHOLD),
           "--max-det", str(MAX_DETECTIONS)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    (work / "peer-console.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode or not (work / "result.json").exists():
        raise SystemExit(f"the YOLOv8n peer failed (exit {proc.returncode}); see {work / 'peer-console.txt'}:\n"
                         + (proc.stdout + proc.stderr)[-3000:])
    return {**json.loads((work / "result.json").read_text()), "wall": wall}


# ---- scoring ----------------------------------------------------------------------------------------------

def coco_map(doc: dict, image_ids: Sequence[int], detections: List[dict]) -> dict:
    """{"map50", "map50_95"} of COCO `detections` on `image_ids` (pycocotools, bbox)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return {"map50": 0.0, "map50_95": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = doc
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(detections), "bbox")
        ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map50": float(ev.stats[1]), "map50_95": float(ev.stats[0])}


def to_coco(image_id: int, boxes_xyxy, scores, classes, category_ids: Sequence[int]) -> List[dict]:
    return [{"image_id": image_id, "category_id": category_ids[int(c)],
             "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "score": float(s)}
            for (x0, y0, x1, y1), s, c in zip(boxes_xyxy, scores, classes)]


def saved_model_detections(model_dir: str, manifest: List[dict]) -> List[dict]:
    """The SavedModel's ``serving_raw`` grid, decoded as the DetectionEvaluator does, boxes in image pixels."""
    import numpy as np
    import tensorflow as tf

    from edgeflow.edge.detection import detect, grid_outputs
    from edgeflow.models.detection.trainer import META_FILE

    meta = json.loads(Path(model_dir, META_FILE).read_text())
    serve_raw = tf.saved_model.load(model_dir).signatures["serving_raw"]
    found = []
    for item in manifest:
        outputs = serve_raw(image_bytes=tf.constant([Path(item["path"]).read_bytes()]))
        raw = [g.numpy()[0] for g in grid_outputs(outputs)]
        d = detect(raw, np.asarray(meta["anchors"]), SCORE_THRESHOLD, meta["iou_threshold"], MAX_DETECTIONS,
                   meta.get("box_coding", "yolov5"))
        scale = np.array([item["width"], item["height"]] * 2, np.float32)
        found += to_coco(item["id"], d.boxes * scale, d.scores, d.classes, item["category_ids"])
    return found


def tflite_detections(path: Path, manifest: List[dict], threads: int) -> tuple:
    """(COCO detections of the .tflite through the device runtime, median ms per image end to end)."""
    import statistics

    from edgeflow.edge.detector import detect_images
    from edgeflow.edge.runtime import EdgeModel

    model = EdgeModel(path, num_threads=threads)
    model.info["detection"] = {**model.info["detection"], "max_detections": MAX_DETECTIONS}
    found, times = [], []
    for item in manifest:
        t0 = time.perf_counter()
        (image,) = detect_images(model, [item["path"]], score_threshold=SCORE_THRESHOLD)
        times.append((time.perf_counter() - t0) * 1000)
        found += to_coco(item["id"], [b.box for b in image.detections], [b.score for b in image.detections],
                         [b.class_id for b in image.detections], item["category_ids"])
    return found, statistics.median(times[5:] or times)


# ---- the table --------------------------------------------------------------------------------------------

def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a == a and b == b and b else "-"


def print_table(rows: Dict[str, dict], peer: str, threads: Sequence[int]) -> List[str]:
    head = ["system", "mAP@0.5", "mAP@0.5:0.95", "training s"] + [f"latency ms ({t} thr)" for t in threads]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def fmt(v, spec):
        return "-" if v is None or v != v else format(v, spec)

    for name, r in rows.items():
        lines.append("| " + " | ".join([name, fmt(r["map50"], ".4f"), fmt(r["map50_95"], ".4f"), fmt(r["train_s"], ".1f")]
                                       + [fmt(r["latency"].get(t), ".2f") for t in threads]) + " |")
    p = rows[peer]
    for name, r in rows.items():
        if name == peer:
            continue
        lines.append("| " + " | ".join([f"ratio {name} / {peer}", ratio(r["map50"], p["map50"]),
                                        ratio(r["map50_95"], p["map50_95"]), ratio(r["train_s"], p["train_s"])]
                                       + [ratio(r["latency"].get(t, float("nan")), p["latency"].get(t, float("nan")))
                                          for t in threads]) + " |")
    print("\n".join(lines))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="working folder (default: a new temporary one)")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=11, help="the generated set's seed (7 was used for tuning)")
    ap.add_argument("--peer-epochs", type=int, default=30)
    ap.add_argument("--peer-venv", type=Path, default=Path(tempfile.gettempdir()) / "edgeflow-yolo-venv",
                    help="the peer's virtual environment, created when missing (default: edgeflow-yolo-venv in the "
                         "temp folder)")
    ap.add_argument("--imgsz", type=int, default=128, help="YOLOv8n's input size")
    ap.add_argument("--runs", type=int, default=200, help="timed batch-1 runs per latency")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a --set value for the edgeflow run")
    args = ap.parse_args()

    import edgeflow  # noqa: F401  (the Keras/TensorFlow environment first)
    from edgeflow.edge.bench import all_threads, latency_ms

    work = (args.out or Path(tempfile.mkdtemp(prefix="edgeflow-yolo-peer-"))).resolve()
    threads = sorted({1, all_threads()})
    python = peer_python(args.peer_venv)  # before any timing: an install is not training time
    print(f"work folder {work}; load average {os.getloadavg()}", flush=True)
    write_set(work / "set", args.images, args.seed)
    doc = json.loads((work / "set" / "annotations.json").read_text())

    loads = {"start": os.getloadavg()}
    ef = run_edgeflow(work / "set", work / "edgeflow", args.sets)
    loads["after edgeflow"] = os.getloadavg()
    r = ef["results"]
    print(f"edgeflow: Trainer {ef['trainer']:.1f} s ({ef['epochs']} epochs), whole run {ef['wall']:.0f} s; "
          f"its evaluator: mAP@0.5 {r.metrics.get('map50', float('nan')):.4f}, mAP@0.5:0.95 "
          f"{r.metrics.get('map50_95', float('nan')):.4f}, blessed {r.blessed}; int8 .tflite {ef['int8']}", flush=True)

    split = split_files(work / "edgeflow")
    print(f"split (read back from edgeflow's examples): {len(split['train'])} train / {len(split['eval'])} eval",
          flush=True)
    write_yolo_layout(work / "set", doc, {"train": split["train"], "val": split["eval"]}, work / "peer" / "yolo")
    ids = {im["file_name"]: im for im in doc["images"]}
    category_ids = [c["id"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
    manifest = [{"id": ids[n]["id"], "path": str(work / "set" / "images" / n), "width": ids[n]["width"],
                 "height": ids[n]["height"], "category_ids": category_ids} for n in split["eval"]]
    (work / "peer" / "manifest.json").write_text(json.dumps(manifest))
    eval_ids = [m["id"] for m in manifest]

    peer = run_peer(python, work / "peer", args.peer_epochs, args.imgsz, threads, args.runs, args.warmup, args.seed)
    loads["after peer"] = os.getloadavg()
    print(f"YOLOv8n: trained {peer['epochs']} epochs in {peer['train_seconds']:.1f} s (child wall {peer['wall']:.0f} s; "
          f"ultralytics {peer['ultralytics']}, torch {peer['torch']})", flush=True)

    rows = {}
    model_dir = r.pushed_path or f"{r.model_uri}/Format-Serving"
    sm = coco_map(doc, eval_ids, saved_model_detections(model_dir, manifest))
    rows["edgeflow SavedModel"] = {**sm, "train_s": ef["trainer"], "latency": {}}
    end_to_end = {}
    if ef["int8"]:
        dets, end_to_end["edgeflow int8"] = tflite_detections(ef["int8"], manifest, all_threads())
        lat = {t: latency_ms(ef["int8"], threads=t, runs=args.runs, warmup=args.warmup)["p50"] for t in threads}
        rows["edgeflow int8 .tflite"] = {**coco_map(doc, eval_ids, dets), "train_s": ef["trainer"], "latency": lat}
    end_to_end["YOLOv8n"] = peer["predict_ms"]
    rows["YOLOv8n (PyTorch)"] = {**coco_map(doc, eval_ids, peer["detections"]), "train_s": peer["train_seconds"],
                                 "latency": {x["threads"]: x["p50"] for x in peer["latency"]}}
    loads["end"] = os.getloadavg()

    print(f"\n== detection side by side: {args.images} images (seed {args.seed}, classes {', '.join(CLASSES)}), "
          f"{len(split['train'])} train / {len(eval_ids)} eval, pycocotools on the eval images")
    lines = print_table(rows, "YOLOv8n (PyTorch)", threads)
    print("latency: batch 1, median of", args.runs, "after", args.warmup, "warm-up runs; .tflite invoke through "
          "edgeflow.edge (LiteRT) / fused PyTorch forward; no pre/post-processing")
    print("end to end per image (read + resize + model + decode/NMS, all threads): "
          + ", ".join(f"{k} {v:.2f} ms" for k, v in end_to_end.items()))
    print(f"thresholds: edgeflow score >= {SCORE_THRESHOLD}, NMS IoU from its model info; YOLOv8n conf "
          f"{peer['conf']}, iou {peer['iou']}; at most {MAX_DETECTIONS} detections per image")
    print(f"training s: edgeflow's Trainer component ({ef['epochs']} epochs; whole pipeline {ef['wall']:.0f} s), "
          f"YOLOv8n's model.train() ({peer['epochs']} epochs, val=False)")
    if "map50" in r.metrics:
        print(f"edgeflow's own DetectionEvaluator said mAP@0.5 {r.metrics['map50']:.4f}, "
              f"mAP@0.5:0.95 {r.metrics['map50_95']:.4f} (fractional boxes; blessed {r.blessed})")
    print("load average (1, 5, 15 min): " + "; ".join(f"{k} {' '.join(f'{v:.2f}' for v in x)}" for k, x in loads.items()))
    y = rows["YOLOv8n (PyTorch)"]
    for name in [n for n in rows if n.startswith("edgeflow")]:
        e = rows[name]
        acc = e["map50_95"] >= 0.95 * y["map50_95"]
        speed = e["train_s"] <= y["train_s"]
        lat = {t: e["latency"][t] < y["latency"][t] for t in threads if t in e["latency"]}
        print(f"bar, {name}: mAP@0.5:0.95 >= 0.95 x YOLOv8n's: {'yes' if acc else 'no'}; training time <= YOLOv8n's: "
              f"{'yes' if speed else 'no'}" + "".join(f"; latency < YOLOv8n's at {t} thr: {'yes' if v else 'no'}"
                                                      for t, v in lat.items()))
    (work / "table.md").write_text("\n".join(lines) + "\n")
    print(f"edgeflow: {ef['command']}\nfiles: {work}")


if __name__ == "__main__":
    main()
