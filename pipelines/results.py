"""What a pipeline run produced, read back from its ML Metadata store.

The MLflow logger and the end-of-run summary both read from here, so they report what
TFX actually recorded, not what the code hoped for.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from edgeflow.components.shared.eval_metrics import read_eval_metrics
from edgeflow.components.shared.records import example_counts


@dataclass
class RunResults:
    pipeline_run_id: str
    execution_ids: Dict[str, int] = field(default_factory=dict)  # component id -> MLMD execution id
    input_base: Optional[str] = None  # the data the ExampleGen read
    schema_uri: Optional[str] = None
    anomalies: List[str] = field(default_factory=list)  # readable anomaly lines, empty when clean
    example_counts: Dict[str, int] = field(default_factory=dict)  # split -> examples
    history: List[dict] = field(default_factory=list)  # per-epoch training metrics
    class_names: List[str] = field(default_factory=list)  # classifiers: labels.txt beside the history
    metrics: Dict[str, float] = field(default_factory=dict)  # TFMA metrics of the candidate, eval split
    blessed: Optional[bool] = None
    blessing_reason: Optional[str] = None  # why (evaluators that say so: sequence, detection)
    model_uri: Optional[str] = None  # the Trainer's SavedModel
    model_run_uri: Optional[str] = None
    evaluation_uri: Optional[str] = None
    pushed_path: Optional[str] = None  # <serving root>/<model>/<version> when pushed
    diagnostics: Dict[str, dict] = field(default_factory=dict)  # <model run>/diagnostics.json
    time_step_gradients: Dict[str, object] = field(default_factory=dict)  # sequence: <model run>/time_step_gradients.json
    time_step_gradients_plot: Optional[str] = None  # sequence: <model run>/time_step_gradients.png
    baseline: Dict[str, object] = field(default_factory=dict)  # ShallowBaseline's baseline.json
    tuned: Dict[str, object] = field(default_factory=dict)  # the Tuner's best hyperparameter values
    lineage: Dict[str, object] = field(default_factory=dict)  # the Trainer's data lineage (components/shared/lineage.py)


def open_store(path: Path) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def _prop(artifact, name):
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return value.string_value or value.int_value


def read_time_step_gradients(results: RunResults, model_run: Path) -> None:
    """The sequence Trainer's gradient-through-time profile and its plot (models/sequence/gradients.py), if written."""
    profile, plot = model_run / "time_step_gradients.json", model_run / "time_step_gradients.png"
    if profile.exists():
        results.time_step_gradients = json.loads(profile.read_text())
    if plot.exists():
        results.time_step_gradients_plot = str(plot)


def read_run(metadata_path: Path, pipeline_name: str) -> RunResults:
    """The newest pipeline run of `pipeline_name` in the store."""
    from tfx.types import standard_artifacts

    store = open_store(metadata_path)
    runs = [c for c in store.get_contexts_by_type("pipeline_run")]
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is not None:
        in_pipeline = {c.id for c in store.get_parent_contexts_by_context(pipeline_ctx.id)} | {
            c.id for c in store.get_children_contexts_by_context(pipeline_ctx.id)}
        runs = [c for c in runs if c.id in in_pipeline] or runs
    if not runs:
        raise LookupError(f"no pipeline run of {pipeline_name} in {metadata_path}")
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    results = RunResults(pipeline_run_id=run.name)

    executions = store.get_executions_by_context(run.id)
    types = {t.id: t.name for t in store.get_artifact_types()}
    node_type = store.get_context_type("node").id
    for ex in executions:  # each execution belongs to a "<pipeline>.<node id>" node context
        node = next((c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(ex.id)
                     if c.type_id == node_type), ex.name)
        results.execution_ids[node] = ex.id
        if "input_base" in ex.custom_properties:
            results.input_base = ex.custom_properties["input_base"].string_value
        if "custom_config" in ex.custom_properties:  # the Trainer's (and Tuner's): the run's lineage record
            try:
                results.lineage = json.loads(ex.custom_properties["custom_config"].string_value).get("lineage") or \
                    results.lineage
            except (ValueError, AttributeError):
                pass
    outputs = [e for e in store.get_events_by_execution_ids([ex.id for ex in executions])
               if e.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in outputs])}
    by_type: Dict[str, list] = {}
    for event in outputs:
        a = artifacts[event.artifact_id]
        by_type.setdefault(types[a.type_id], []).append(a)

    for a in by_type.get("ExampleStatistics", [])[-1:]:
        art = standard_artifacts.ExampleStatistics()
        art.set_mlmd_artifact(a)
        results.example_counts = example_counts(art)
    for a in by_type.get("Schema", [])[-1:]:
        results.schema_uri = os.path.join(a.uri, "schema.pbtxt")
    for a in by_type.get("ExampleAnomalies", [])[-1:]:
        from edgeflow.components.shared.anomaly_gate import read_anomalies

        art = standard_artifacts.ExampleAnomalies()
        art.set_mlmd_artifact(a)
        results.anomalies = read_anomalies(art)
    for a in by_type.get("ModelRun", [])[-1:]:
        results.model_run_uri = a.uri
        history = Path(a.uri) / "history.json"
        if history.exists():
            results.history = json.loads(history.read_text())
        labels = Path(a.uri) / "labels.txt"
        if labels.exists():
            results.class_names = labels.read_text().splitlines()
        diagnostics = Path(a.uri) / "diagnostics.json"
        if diagnostics.exists():
            results.diagnostics = json.loads(diagnostics.read_text())
        read_time_step_gradients(results, Path(a.uri))
    for a in by_type.get("HyperParameters", [])[-1:]:
        best = Path(a.uri) / "best_hyperparameters.txt"
        if best.exists():
            results.tuned = json.loads(best.read_text()).get("values", {})
    for a in by_type.get("edgeflow.ShallowBaselineResult", [])[-1:]:
        baseline = Path(a.uri) / "baseline.json"
        if baseline.exists():
            results.baseline = json.loads(baseline.read_text())
    for a in by_type.get("Model", [])[-1:]:
        results.model_uri = a.uri
    for a in by_type.get("ModelEvaluation", [])[-1:]:
        results.evaluation_uri = a.uri
        results.metrics = read_eval_metrics(a.uri)
    for a in sorted(by_type.get("ModelBlessing", []), key=lambda a: a.id)[-1:]:  # lift-gated when ShallowBaseline ran
        results.blessed = bool(_prop(a, "blessed"))
        results.blessing_reason = _prop(a, "reason") or None
    for a in by_type.get("PushedModel", [])[-1:]:
        if _prop(a, "pushed"):
            results.pushed_path = _prop(a, "pushed_destination")
    return results
