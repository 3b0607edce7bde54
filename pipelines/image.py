"""The image-classification pipeline: image folder -> CNN -> blessed SavedModel in TF Serving layout."""
from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from edgeflow.components.shared.lineage import fingerprint_files, lineage
from edgeflow.pipelines.common import (data_checks, latest_blessed_model, local_pipeline, serving_pusher,
                                      tracking_settings, training_config, warm_start_inputs, with_lineage)
from edgeflow.components.edge_export.component import edge_export_nodes
from edgeflow.components.image.example_gen import ImageFolderExampleGen
from edgeflow.models.features import LABEL_KEY
from edgeflow.components.image.shallow_baseline import ShallowBaseline
from edgeflow.models.features import IMAGE_FEATURE
from edgeflow.components.shared.tracked_steps import TrackedEvaluator
from edgeflow.components.shared.tracked_trainer import TrackedTrainer
from edgeflow.config import PipelineConfig

log = logging.getLogger("edgeflow")


def eval_config(cfg: PipelineConfig, num_classes: int) -> tfma.EvalConfig:
    """Accuracy gates the blessing (an absolute bar, and no regression against the last blessed model)."""
    accuracy_gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": cfg.eval.min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -cfg.eval.max_regression - 1e-10}))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_examples", label_key=LABEL_KEY,
                                    prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=accuracy_gate),
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ]),
            # Per-class precision and recall (one-vs-rest for each class id).
            tfma.MetricsSpec(
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))}),
                metrics=[tfma.MetricConfig(class_name="Precision"), tfma.MetricConfig(class_name="Recall")]),
        ])


def create_pipeline(cfg: PipelineConfig, data_root: str, class_names: Sequence[str],
                    beam_args: Sequence[str] = (), lineage_record: dict = None) -> tfx.dsl.Pipeline:
    """`lineage_record` (from :func:`build`) decides which earlier blessed model is a baseline."""
    record = lineage_record or lineage("image", data_root, "", class_names)
    custom = {"image": asdict(cfg.image), "model": asdict(cfg.model), "augment": asdict(cfg.augment),
              **training_config(cfg, cfg.image, cfg.model, cfg.augment),
              "tuning": asdict(cfg.tuning), "edgetpu": cfg.export.target == "edgetpu",
              "class_names": list(class_names)}
    custom = with_lineage(custom, record)

    # Read <class>/<image> files with Beam into tf.Examples, split train/eval by a hash of the path.
    example_gen = ImageFolderExampleGen(data_root, cfg.data.train_buckets, cfg.data.eval_buckets,
                                        cfg.data.pattern or "*/*")
    # Statistics, an inferred schema, the examples checked against it; stop on anomalies.
    checks = data_checks(example_gen.outputs["examples"], tracking=tracking_settings(cfg, data=data_root))
    schema_gen = checks.schema_gen
    # Decode, resize and scale the images inside the graph that the exported model carries.
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn="edgeflow.models.image.transform.preprocessing_fn",
        custom_config={"image_size": cfg.image.size, "channels": cfg.image.channels},
        disable_statistics=True)
    transform.add_upstream_node(checks.anomaly_gate)
    # The last blessed model, the baseline the new one must not fall below (and, with
    # pipeline.warm_start, the Trainer's starting point).
    baseline = latest_blessed_model(cfg, record)
    # Optionally, KerasTuner random search over the model controls; its best values go to the Trainer.
    tuner, tuned = [], {}
    if cfg.tuning.enabled:
        tuner = [tfx.components.Tuner(
            tuner_fn="edgeflow.models.image.tuner.tuner_fn",
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            train_args=tfx.proto.TrainArgs(splits=["train"]),
            eval_args=tfx.proto.EvalArgs(splits=["eval"]),
            custom_config=custom)]
        tuned = {"hyperparameters": tuner[0].outputs["best_hyperparameters"]}
    # Train the CNN with early stopping and checkpoints; export with serving signatures.
    trainer = TrackedTrainer(
        run_fn="edgeflow.models.image.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=custom, **tuned,
        **warm_start_inputs(cfg, baseline))
    # Accuracy and per-class metrics on the eval split with TFMA; bless or not.
    evaluator = TrackedEvaluator(
        tracking=tracking_settings(cfg, class_names=list(class_names)), examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"], example_splits=["eval"],
        eval_config=eval_config(cfg, len(class_names)))
    # Logistic regression on the same transformed features: the CNN's lift over it (optionally a bar).
    extra, blessing = [], evaluator.outputs["blessing"]
    if cfg.baseline.enabled:
        shallow = ShallowBaseline(
            transformed_examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            evaluation=evaluator.outputs["evaluation"], blessing=evaluator.outputs["blessing"],
            feature=IMAGE_FEATURE, min_lift=cfg.baseline.min_lift or 0.0,
            require_lift=int(cfg.baseline.min_lift is not None), seed=cfg.train.seed,
            max_examples=cfg.baseline.max_examples)
        extra, blessing = [shallow], shallow.outputs["lift_blessing"]
    pusher = serving_pusher(cfg, trainer.outputs["model"], blessing)
    # A blessed model also leaves as measured .tflite variants (TFMOT + TFLite), one shipped by policy.
    edge = edge_export_nodes(cfg, "image", trainer.outputs["model_run"], transform.outputs["transformed_examples"],
                             blessing, class_names)
    components = [example_gen, *checks.components, transform, baseline,
                  *tuner, trainer, evaluator, *extra, pusher, *edge]

    return local_pipeline(cfg, components, beam_args)

def _data(cfg: PipelineConfig):
    """(root, resolved pattern) of the image folder: the bundled digits unless data.path is set."""
    from edgeflow.pipelines.bundled.digits import write_digits_folder
    from edgeflow.pipelines.spans import resolve_pattern

    root = cfg.data.path or write_digits_folder(cfg.output_dir / "data", cfg.image.limit_per_class)
    return root, resolve_pattern(root, cfg.data.pattern)  # the newest span's folder when data.pattern has {SPAN}


def resolve(cfg: PipelineConfig, scan=None) -> PipelineConfig:
    """`cfg` with every "from the data" (null) image setting chosen from the folder, the choice
    and its reason logged as one line; `cfg` itself when nothing is left to choose.

    ``augment.enabled`` null: on for a folder of the user's own (data.path), off for the bundled digits.

    The runner calls this before MLflow logs the config, so the params record the resolved values.
    `scan` is the folder's :class:`FolderScan` when the caller already has it."""
    from edgeflow.components.image.folder import scan_image_folder
    from edgeflow.components.image.shape import choose_shape, sample_stats

    if cfg.augment.enabled is None:
        enabled = cfg.data.path is not None
        log.info("augmentation: %s", "on (a folder of your own; augment.enabled=false turns it off)" if enabled
                 else "off (the bundled digits; augment.enabled=true turns it on)")
        cfg = replace(cfg, augment=replace(cfg.augment, enabled=enabled))
    if cfg.image.size is not None and cfg.image.channels is not None:
        return cfg
    if scan is None:
        scan = scan_image_folder(_data(cfg)[1].folder, cfg.data.max_bad_fraction)
    choice = choose_shape(sample_stats(scan.root, scan.files, seed=cfg.train.seed), cfg.model.blocks,
                          cfg.image.size, cfg.image.channels, cfg.image.max_auto_size, cfg.model.backbone)
    log.info(choice.reason)
    return replace(cfg, image=replace(cfg.image, size=choice.size, channels=choice.channels))


def build(cfg: PipelineConfig, beam_args: Sequence[str] = ()) -> tfx.dsl.Pipeline:
    """Checks the image folder (the bundled digits unless data.path is set), then builds the pipeline."""
    from edgeflow.components.image.folder import scan_image_folder

    root, data = _data(cfg)
    scan = scan_image_folder(data.folder, cfg.data.max_bad_fraction)
    log.info("data: %d images in %d classes from %s%s%s", len(scan.files), len(scan.classes), scan.root,
             "" if data.span is None else f" (span {data.span})",
             f" ({len(scan.bad)} unreadable files skipped, named in the log)" if scan.bad else "")
    cfg = resolve(cfg, scan)
    # model.weights: fetch imagenet into Keras' cache (or say in one sentence why not), read a weights file
    from edgeflow.models.image.backbone import check_weights

    check_weights(cfg.model, cfg.image.size, cfg.image.channels)
    data_root = str(Path(root).expanduser().resolve())
    record = lineage("image", data_root, fingerprint_files([str(scan.root / rel) for rel, _ in scan.files], str(scan.root)), scan.classes)
    return create_pipeline(cfg, data_root, scan.classes, beam_args, record)
