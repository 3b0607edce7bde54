"""DetectionEvaluator: mAP of a trained detector on the eval split, and a blessing on mAP@0.5.

TFMA has no detection metrics, so this Python-function component scores the SavedModel
itself: it runs the ``serving_raw`` signature, post-processes with the device code
(``edgeflow.edge.detection``, a low score threshold as COCO evaluation wants), and computes
COCO mAP with pycocotools. It writes ``metrics.json`` and ``predictions.png`` into the
evaluation artifact and blesses the model (as TFX's Evaluator does: a ``blessed`` custom
property and a BLESSED / NOT_BLESSED file with the reason, through the shared skeleton in
``components/shared/blessing.py``) when mAP@0.5 reaches ``min_map50`` and is no worse than the
last blessed model's (``max_regression``).
"""

import json
import logging
import os

import numpy as np
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation
from tfx.utils import path_utils

from edgeflow.components.shared.blessing import Headline, at_least, judge, publish

log = logging.getLogger("edgeflow")
EVAL_SCORE_THRESHOLD = 0.001  # keep the low-score tail: COCO mAP integrates over the whole PR curve
EVAL_MAX_DETECTIONS = 100
PREVIEW_IMAGES = 8


def evaluate_saved_model(model_dir: str, eval_files, batch: int = 64):
    """(metrics dict, preview PIL image) of the SavedModel at `model_dir` on the examples in `eval_files`."""
    import tensorflow as tf

    from edgeflow.edge.detection import Detections, detect, grid_outputs
    from edgeflow.models.detection.examples import decode_images, read_detection_examples
    from edgeflow.models.detection.metrics import coco_metrics, contact_sheet, cxcywh_to_xyxy, draw_detections
    from edgeflow.models.detection.trainer import META_FILE

    with tf.io.gfile.GFile(os.path.join(model_dir, META_FILE)) as f:
        meta = json.load(f)
    serve_raw = tf.saved_model.load(model_dir).signatures["serving_raw"]
    data = read_detection_examples(eval_files)
    found = []
    for i in range(0, len(data), batch):
        grids = [g.numpy() for g in grid_outputs(serve_raw(image_bytes=tf.constant(data.encoded[i:i + batch])))]
        found += [detect([g[j] for g in grids], np.asarray(meta["anchors"]), EVAL_SCORE_THRESHOLD,
                         meta["iou_threshold"], EVAL_MAX_DETECTIONS) for j in range(len(grids[0]))]
    gt = [cxcywh_to_xyxy(b) for b in data.boxes]
    metrics = coco_metrics(gt, data.classes, found, meta["class_names"])
    images = decode_images(data.encoded[:PREVIEW_IMAGES], meta["image_size"], meta["channels"])
    # The preview shows what serving would return: detections above the serving threshold.
    shown = [Detections(d.boxes[keep], d.scores[keep], d.classes[keep])
             for d in found[:PREVIEW_IMAGES] for keep in [d.scores > meta["score_threshold"]]]
    tiles = [draw_detections(im, d, meta["class_names"], g) for im, d, g in zip(images, shown, gt)]
    return metrics, (contact_sheet(tiles) if tiles else None)


@tfx.dsl.components.component
def DetectionEvaluator(examples: tfx.dsl.components.InputArtifact[Examples],
                       model: tfx.dsl.components.InputArtifact[Model],
                       evaluation: tfx.dsl.components.OutputArtifact[ModelEvaluation],
                       blessing: tfx.dsl.components.OutputArtifact[ModelBlessing],
                       min_map50: tfx.dsl.components.Parameter[float] = 0.5,
                       max_regression: tfx.dsl.components.Parameter[float] = 0.0,
                       baseline_model: tfx.dsl.components.InputArtifact[Model] = None) -> None:
    """Scores the model on the eval split; blessed when mAP@0.5 >= min_map50 and, when an earlier model was
    blessed (`baseline_model`), mAP@0.5 is at most `max_regression` below that model's on the same images."""
    eval_files = artifact_utils.get_split_uri([examples], "eval")
    metrics, preview = evaluate_saved_model(path_utils.serving_model_path(model.uri), eval_files)
    last = None
    if baseline_model is not None:  # the last blessed model, scored on the same images
        last = evaluate_saved_model(path_utils.serving_model_path(baseline_model.uri), eval_files)[0]["map50"]
    verdict = judge(metrics, at_least("mAP@0.5", metrics["map50"], min_map50, "detection.min_map50"),
                    Headline("map50", "mAP@0.5"), last, max_regression)
    publish(evaluation, blessing, model, metrics, verdict)
    if preview is not None:
        preview.save(os.path.join(evaluation.uri, "predictions.png"))
    log.info("  eval mAP@0.5 %.4f, mAP@0.5:0.95 %.4f on %d images -> %s: %s", metrics["map50"],
             metrics["map50_95"], int(metrics["images"]), "blessed" if verdict.blessed else "not blessed",
             verdict.reason)
