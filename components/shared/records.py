"""The MLflow record of the ``data``, ``evaluate`` and ``push`` steps, one writer per step.

The components write these from inside their executors (components/shared/tracked_steps.py), into
their step's child run of the pipeline run's parent (models/training/live_tracking.py finds or
creates both). The local runner calls the same writers for a step that wrote nothing itself (a
result reused from TFX's cache, a store that was down then), so a record has one shape whoever
wrote it. Every writer takes an ``MlflowClient`` and the child run's id, and plain values.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mlflow.entities import Metric, RunTag

from edgeflow.components.shared import plots


def fingerprint(path: str) -> str:
    """sha256 over every file's relative path and content under `path`: equal data, equal print."""
    root, digest = Path(path), hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    for f in files:
        digest.update(str(f.relative_to(root) if f != root else f.name).encode())
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()[:16]


def example_counts(statistics) -> Dict[str, int]:
    """Examples per split of an ExampleStatistics artifact."""
    import os

    import tensorflow_data_validation as tfdv
    from tfx.types import artifact_utils

    return {split: int(tfdv.load_stats_binary(os.path.join(artifact_utils.get_split_uri([statistics], split),
                                                           "FeatureStats.pb")).datasets[0].num_examples)
            for split in artifact_utils.decode_split_names(statistics.split_names)}


def _metrics(client, run_id: str, values: Dict[str, float], step: int = 0) -> None:
    import time

    now = int(time.time() * 1000)
    rows = [Metric(k, float(v), now, step) for k, v in values.items()]
    for i in range(0, len(rows), 1000):
        client.log_batch(run_id, metrics=rows[i:i + 1000])


def write_data(client, run_id: str, counts: Dict[str, int], anomalies: List[str], schema_uri: Optional[str],
               input_base: Optional[str]) -> None:
    """Examples per split, the anomaly lines, the schema, and the data as a dataset input with its fingerprint."""
    _metrics(client, run_id, {**{f"examples.{k}": v for k, v in counts.items()}, "anomalies": len(anomalies)})
    client.log_text(run_id, "\n".join(anomalies) or "no anomalies\n", "anomalies.txt")
    if schema_uri and Path(schema_uri).exists():
        client.log_artifact(run_id, schema_uri)
    if input_base and Path(input_base).exists():  # the run page's "Datasets"
        from mlflow.entities import DatasetInput, InputTag

        from edgeflow.components.shared.datasets import pipeline_dataset

        digest = fingerprint(input_base)
        client.log_batch(run_id, tags=[RunTag("data.path", input_base), RunTag("data.fingerprint", digest)])
        dataset = pipeline_dataset(input_base, digest, counts, schema_uri)._to_mlflow_entity()
        client.log_inputs(run_id, datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])


def write_evaluate(client, run_id: str, metrics: Dict[str, float], blessed: Optional[bool],
                   reason: Optional[str], evaluation_uri: str, class_names: Sequence[str] = ()) -> None:
    """The candidate's metrics (``/`` as ``.``), the blessing and why, the evaluator's plots, and for
    classifiers the per-class table and the confusion matrix."""
    _metrics(client, run_id, {k.replace("/", "."): v for k, v in metrics.items()})
    client.log_text(run_id, json.dumps(metrics, indent=1, sort_keys=True), "eval_metrics.json")
    client.set_tag(run_id, "blessed", str(blessed).lower())
    if reason:
        client.set_tag(run_id, "blessing_reason", reason[:5000])
    for png in sorted(Path(evaluation_uri).glob("*.png")):  # evaluators' own plots (sequence, detection)
        client.log_artifact(run_id, str(png))
    if class_names:
        client.log_text(run_id, plots.per_class_table(metrics, class_names), "per_class.csv")
        cm = plots.read_confusion_matrix(evaluation_uri, len(class_names))
        if cm is not None:
            with tempfile.TemporaryDirectory(prefix="edgeflow-mlflow-") as tmp:
                client.log_artifact(run_id, str(plots.confusion_matrix(cm, class_names, Path(tmp) / "confusion_matrix.png")))


def write_push(client, run_id: str, pushed_path: str) -> None:
    """Where the blessed model went: the TF Serving folder and its version."""
    client.set_tag(run_id, "pushed_path", pushed_path)
    client.set_tag(run_id, "serving.version", Path(pushed_path).name)
