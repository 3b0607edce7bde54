"""``edgeflow cv image --folds K``: K-fold cross-validation of the image model's config.

Reads the same image folder the pipeline would (the bundled digits unless ``data.path``),
decodes it with the same function the Transform graph uses (``decode_images``), splits it
into K stratified folds, and trains the configured CNN K times with the configured callbacks,
each time scoring the held-out fold. In MLflow: one parent run with the mean and standard
deviation, and one child run per fold. It runs the model in-process, not the whole TFX
pipeline K times: the question CV answers is how much the score varies with the split.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

import numpy as np

from edgeflow import EdgeflowError
from edgeflow.config import PipelineConfig

log = logging.getLogger("edgeflow")
CV_PIPELINES = ("image",)


@dataclass
class CVResult:
    folds: List[Dict[str, float]] = field(default_factory=list)  # per fold: accuracy, loss, epochs
    parent_run_id: Optional[str] = None

    def mean(self, key: str) -> float:
        return float(np.mean([f[key] for f in self.folds]))

    def std(self, key: str) -> float:
        return float(np.std([f[key] for f in self.folds]))

    def summary(self) -> Dict[str, float]:
        return {f"cv.{k}.{stat}": getattr(self, stat)(k) for k in ("accuracy", "loss") for stat in ("mean", "std")}


def load_images(cfg: PipelineConfig):
    """The image folder as x (N, size, size, channels) float32 in [0, 1], y (N,) int64, class names."""
    import tensorflow as tf

    from edgeflow.components.image.folder import scan_image_folder
    from edgeflow.models.image.transform import decode_images
    from edgeflow.pipelines.bundled.digits import write_digits_folder
    from edgeflow.pipelines.image import resolve

    root = cfg.data.path or write_digits_folder(cfg.output_dir / "data", cfg.image.limit_per_class)
    scan = scan_image_folder(root, cfg.data.max_bad_fraction)
    cfg = resolve(cfg, scan)  # image.size / image.channels left to the data
    encoded = tf.constant([(scan.root / rel).read_bytes() for rel, _ in scan.files])
    x = decode_images(encoded, cfg.image.size, cfg.image.channels).numpy()
    return x, np.array([label for _, label in scan.files], dtype="int64"), scan.classes


def train_fold(cfg: PipelineConfig, x_train, y_train, x_test, y_test, num_classes: int, run_dir: str) -> dict:
    """Trains the configured CNN on one fold's training part and scores its held-out part.

    Early stopping and the LR schedule watch a stratified 10% of the training part, never the
    held-out part, so the score is not chosen on the data it is measured on."""
    import tensorflow as tf
    from sklearn.model_selection import train_test_split

    from edgeflow.models.training.callbacks import build_callbacks
    from edgeflow.models.image.model import build_cnn
    from edgeflow.models.image.trainer import compile_model

    tf.keras.utils.set_random_seed(cfg.train.seed)
    model = compile_model(build_cnn(x_train.shape[1:], num_classes, cfg.model), cfg.train)
    share = max(0.1, num_classes / len(y_train))
    try:
        x_fit, x_val, y_fit, y_val = train_test_split(x_train, y_train, test_size=share, stratify=y_train,
                                                      random_state=cfg.train.seed)
    except ValueError:  # a class too small to stratify: a plain random split
        x_fit, x_val, y_fit, y_val = train_test_split(x_train, y_train, test_size=share, random_state=cfg.train.seed)
    history = model.fit(x_fit, y_fit, validation_data=(x_val, y_val), epochs=cfg.train.epochs,
                        batch_size=cfg.train.batch_size, verbose=0,
                        callbacks=build_callbacks(replace(cfg.train, tensorboard=False), run_dir))
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"accuracy": float(accuracy), "loss": float(loss), "epochs": len(history.history["loss"])}


def cross_validate(cfg: PipelineConfig, folds: int) -> CVResult:
    """K stratified folds; each fold trains once and is logged as a child MLflow run."""
    from sklearn.model_selection import StratifiedKFold

    from edgeflow.pipelines.tracking import runs as tracking

    if cfg.name not in CV_PIPELINES:
        raise EdgeflowError(f"cross-validation is available for the {', '.join(CV_PIPELINES)} pipeline, "
                            f"not {cfg.name!r}; run `edgeflow cv image`")
    x, y, classes = load_images(cfg)
    smallest = int(np.bincount(y).min())
    if not 2 <= folds <= smallest:
        raise EdgeflowError(f"--folds {folds} does not fit the data: use 2 to {smallest} folds "
                            f"(the smallest class has {smallest} images)")
    log.info("cv %s: %d folds over %d images in %d classes", cfg.name, folds, len(y), len(classes))
    result = CVResult()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cfg.train.seed)
    cv_cfg = replace(cfg, tracking=replace(cfg.tracking, experiment=f"{cfg.experiment}-cv"))
    with tracking.tracked_run(cv_cfg) as parent:
        for k, (train_idx, test_idx) in enumerate(splitter.split(x, y), start=1):
            run_dir = str(cfg.output_dir / cfg.name / "cv" / f"fold{k}")
            metrics = train_fold(cfg, x[train_idx], y[train_idx], x[test_idx], y[test_idx], len(classes), run_dir)
            result.folds.append(metrics)
            log.info("  fold %d/%d: accuracy %.4f  loss %.4f  (%d epochs)", k, folds, metrics["accuracy"],
                     metrics["loss"], metrics["epochs"])
            if parent is not None:
                tracking.log_child_run(f"fold{k}", {"cv.fold": k, **metrics})
        if parent is not None:
            import mlflow

            mlflow.log_metrics({**result.summary(), "cv.folds": folds})
            result.parent_run_id = parent.info.run_id
    return result
