"""The pieces every pipeline shares: the data checks, the push to TF Serving's layout, the Pipeline."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from typing import List, NamedTuple, Sequence

from tfx import v1 as tfx
from tfx.dsl.components.common.resolver import RESOLVER_STRATEGY_CLASS

from edgeflow.components.shared.anomaly_gate import AnomalyGate
from edgeflow.components.shared.tracked_steps import TrackedExampleValidator, TrackedPusher
from edgeflow.components.shared.lineage import KEY as LINEAGE_KEY, LatestBlessedSameLineage
from edgeflow.config import PipelineConfig


class DataChecks(NamedTuple):
    statistics_gen: object
    schema_gen: object
    example_validator: object
    anomaly_gate: object  # downstream steps run after it: `.add_upstream_node(checks.anomaly_gate)`

    @property
    def components(self) -> List[object]:
        return list(self)


def data_checks(examples, infer_feature_shape: bool = True, tracking: dict = None) -> DataChecks:
    """Statistics per split, a schema inferred from them, the examples checked against it (the validator
    writes the ``data`` record into MLflow, with `tracking`: see :func:`tracking_settings`), and a gate
    that stops the run when the data breaks its schema."""
    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                          infer_feature_shape=infer_feature_shape)
    example_validator = TrackedExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                                schema=schema_gen.outputs["schema"], tracking=tracking)
    anomaly_gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"])
    return DataChecks(statistics_gen, schema_gen, example_validator, anomaly_gate)


def latest_blessed_model(cfg: PipelineConfig = None, lineage: dict = None):
    """TFX's resolver for the last blessed model (and its blessing) of this pipeline, or nothing on a first run:
    the baseline an evaluator compares the new model with (``.outputs["model"]``). With `lineage` (this run's
    record, see :func:`with_lineage`), only a model of the same lineage counts (components/shared/lineage.py)."""
    across = bool(cfg and cfg.eval.compare_across_data)
    return tfx.dsl.Resolver(
        strategy_class=LatestBlessedSameLineage,
        config={"lineage": json.dumps(lineage or {}), "across_data": across},
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModel")


def plain_blessed_resolvers(pipeline) -> int:
    """Turns the lineage-aware resolvers of `pipeline` back into TFX's LatestBlessedModelStrategy; returns how many.

    For KubeflowV2DagRunner, whose compiler accepts only TFX's own two strategies (it replaces them with
    its own resolver tasks): on Kubeflow the last blessed model is a baseline whatever its lineage."""
    count = 0
    for node in pipeline.components:
        if isinstance(node, tfx.dsl.Resolver) and node.exec_properties.get(RESOLVER_STRATEGY_CLASS) is LatestBlessedSameLineage:
            node._strategy_class, node._config = tfx.dsl.experimental.LatestBlessedModelStrategy, {}  # noqa: SLF001
            count += 1
    return count


def train_backup_dir(cfg: PipelineConfig, *setup) -> str:
    """Where the Trainer backs up every epoch (``train.resume``): stable across runs (so a killed run's next
    run resumes), one folder per training setup (`setup`: the config sections and values the model depends
    on, e.g. ``cfg.image, cfg.model, cfg.train``), so a changed model never restores another's weights."""
    text = json.dumps([asdict(s) if is_dataclass(s) else s for s in setup], sort_keys=True)
    return str(cfg.output_dir / cfg.name / "train_backup" / hashlib.sha1(text.encode()).hexdigest()[:12])


def training_config(cfg: PipelineConfig, *setup) -> dict:
    """The custom_config keys the training skeleton (models/training/skeleton.py) reads for every task:
    ``train``, ``diagnostics``, the resume ``backup_dir`` (from `setup`, see :func:`train_backup_dir`) and
    ``tracking`` (see :func:`tracking_settings`)."""
    return {"train": asdict(cfg.train), "diagnostics": asdict(cfg.diagnostics),
            "backup_dir": train_backup_dir(cfg, *setup, cfg.train), "tracking": tracking_settings(cfg)}


def tracking_settings(cfg: PipelineConfig, **extra) -> dict:
    """What travels with the pipeline so its components write their own MLflow records on any orchestrator
    (models/training/live_tracking.py, components/shared/tracked_steps.py): the store, the experiment, the
    pipeline's name, and `extra` a step needs (``data``: the data path; ``class_names``). In a container,
    ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME`` override the first two."""
    return {"enabled": cfg.tracking.enabled, "uri": cfg.tracking_uri, "experiment": cfg.experiment,
            "pipeline": cfg.name, **extra}


def with_lineage(custom: dict, lineage: dict) -> dict:
    """The Trainer's custom_config with this run's lineage record: ML Metadata keeps it with every Model the
    Trainer produces, and the next run's :func:`latest_blessed_model` reads it back."""
    return {**custom, LINEAGE_KEY: lineage}


def warm_start_inputs(cfg: PipelineConfig, last_blessed) -> dict:
    """With ``pipeline.warm_start``, the Trainer's ``base_model``: the last blessed model's weights to start from."""
    return {"base_model": last_blessed.outputs["model"]} if cfg.pipeline.warm_start else {}


def serving_pusher(cfg: PipelineConfig, model, blessing):
    """A blessed model goes to <serving root>/<model name>/<version>/, TF Serving's layout, whole
    or not at all (components/shared/atomic_push.py), and writes its own ``push`` record."""
    return TrackedPusher(
        tracking=tracking_settings(cfg), model=model, model_blessing=blessing,
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=str(cfg.serving_root / cfg.model_name))))


def local_pipeline(cfg: PipelineConfig, components: Sequence[object], beam_args: Sequence[str] = ()):
    """The TFX Pipeline with its SQLite ML Metadata store under the output folder."""
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.name,
        pipeline_root=str(cfg.pipeline_root),
        components=list(components),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(cfg.metadata_path)),
        beam_pipeline_args=list(beam_args),
        enable_cache=cfg.pipeline.cache)
