"""The detection pipeline: YOLO/COCO folder -> YOLO-style grid detector -> mAP-blessed SavedModel.

Same stages as the image pipeline, with two differences: there is no Transform (the serving
graph decodes the image itself, and boxes need no analysis pass), and a custom
DetectionEvaluator replaces TFMA, which has no detection metrics.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from typing import Sequence

from tfx import v1 as tfx

from edgeflow.components.shared.lineage import fingerprint_files, lineage
from edgeflow.pipelines.common import (data_checks, latest_blessed_model, local_pipeline, serving_pusher,
                                      tracking_settings, training_config, warm_start_inputs, with_lineage)
from edgeflow.components.detection.evaluator import DetectionEvaluator
from edgeflow.components.detection.example_gen import DetectionExampleGen
from edgeflow.components.edge_export.component import edge_export_nodes
from edgeflow.components.shared.tracked_trainer import TrackedTrainer
from edgeflow.config import PipelineConfig
from edgeflow.config.detection import BUNDLED_IMAGE_SIZE

log = logging.getLogger("edgeflow")


def create_pipeline(cfg: PipelineConfig, data_root: str, class_names: Sequence[str],
                    beam_args: Sequence[str] = (), lineage_record: dict = None) -> tfx.dsl.Pipeline:
    """`lineage_record` (from :func:`build`) decides which earlier blessed model is a baseline."""
    record = lineage_record or lineage("detection", data_root, "", class_names)
    custom = {"detection": asdict(cfg.detection), **training_config(cfg, cfg.detection, list(class_names)),
              "class_names": list(class_names)}
    custom = with_lineage(custom, record)

    # Read images and their boxes with Beam into tf.Examples, split train/eval by a hash of the path.
    example_gen = DetectionExampleGen(data_root, cfg.data.train_buckets, cfg.data.eval_buckets)
    # Statistics, an inferred schema (boxes are variable-length), the examples checked; stop on anomalies.
    checks = data_checks(example_gen.outputs["examples"], infer_feature_shape=False,
                         tracking=tracking_settings(cfg, data=data_root))
    schema_gen = checks.schema_gen
    # The last blessed model (none on a first run): the candidate's mAP@0.5 must not fall below it (and,
    # with pipeline.warm_start, the Trainer's starting point).
    last_blessed = latest_blessed_model(cfg, record)
    # Train the grid detector (anchors by k-means unless configured); export with NMS in the graph.
    trainer = TrackedTrainer(
        run_fn="edgeflow.models.detection.trainer.run_fn",
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=custom, **warm_start_inputs(cfg, last_blessed))
    trainer.add_upstream_node(checks.anomaly_gate)
    # COCO mAP on the eval split with pycocotools; bless on mAP@0.5 (a bar, and vs. the last blessed model).
    evaluator = DetectionEvaluator(examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
                                   min_map50=cfg.detection.min_map50, max_regression=cfg.eval.max_regression,
                                   baseline_model=last_blessed.outputs["model"])
    pusher = serving_pusher(cfg, trainer.outputs["model"], evaluator.outputs["blessing"])
    # A blessed model also leaves as measured .tflite variants ending at the raw grid (batch 1, int8-able).
    edge = edge_export_nodes(cfg, "detection", trainer.outputs["model_run"], example_gen.outputs["examples"],
                             evaluator.outputs["blessing"], class_names, task_config=asdict(cfg.detection))

    return local_pipeline(cfg, [example_gen, *checks.components, last_blessed, trainer, evaluator, pusher, *edge],
                          beam_args)


def build(cfg: PipelineConfig, beam_args: Sequence[str] = ()) -> tfx.dsl.Pipeline:
    """Checks the labels (the generated digit set unless data.path is set), writes the report, builds."""
    from edgeflow.components.detection.labels import check_bad_fraction, scan_detection_folder
    from edgeflow.components.image.shape import sample_stats
    from edgeflow.pipelines.bundled.canvases import write_digit_detection_set

    if not cfg.data.path:
        cfg = replace(cfg, detection=cfg.detection.at_size(BUNDLED_IMAGE_SIZE))
    root = cfg.data.path or write_digit_detection_set(cfg.output_dir / "data", cfg.detection)
    scan = scan_detection_folder(root, max_bad_fraction=1.0)
    if not cfg.detection.image_size:  # detection.image_size 0: the data's own size, not shrunk
        stats = sample_stats(scan.root, [(item.image, 0) for item in scan.images])
        cfg = replace(cfg, detection=cfg.detection.at_size(stats.largest_side or BUNDLED_IMAGE_SIZE))
        log.info("data: model input %d x %d px (the largest side of %d sampled images; set detection.image_size to change it)",
                 cfg.detection.image_size, cfg.detection.image_size, stats.sampled)
    report = cfg.output_dir / cfg.name / "label_report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(scan.report(), indent=1))
    check_bad_fraction(scan, cfg.data.max_bad_fraction, report)
    log.info("data: %d images, %d boxes, %d classes (%s format) from %s%s", len(scan.images),
             sum(len(i.boxes) for i in scan.images), len(scan.class_names), scan.format, scan.root,
             f"; {len(scan.bad_files)} files with invalid labels skipped, named in {report}" if scan.problems else "")
    record = lineage("detection", str(scan.root), fingerprint_files([str(scan.root / i.image) for i in scan.images],
                                                           str(scan.root)),
                     scan.class_names)
    return create_pipeline(cfg, str(scan.root), scan.class_names, beam_args, record)
