"""MLflow: one MLflow run per pipeline run, in an experiment named after the pipeline.

Embedded by default (a SQLite tracking store and an artifact folder under the output
directory); ``tracking.uri`` (or ``MLFLOW_TRACKING_URI``) points it at a real server.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from edgeflow import EdgeflowError
from edgeflow.pipelines.config import PipelineConfig, dump_yaml, to_dict
from edgeflow.pipelines.results import RunResults

log = logging.getLogger("edgeflow")


class TrackingError(EdgeflowError):
    pass


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def tracking_uri(cfg: PipelineConfig) -> str:
    return cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or cfg.tracking_uri


def _setup(cfg: PipelineConfig):
    import mlflow

    uri = tracking_uri(cfg)
    if uri.startswith("sqlite:"):
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(cfg.experiment)
        if experiment is None:
            artifact_location = (cfg.output_dir / "mlartifacts" / cfg.experiment).as_uri() if uri.startswith("sqlite:") else None
            mlflow.create_experiment(cfg.experiment, artifact_location=artifact_location)
        mlflow.set_experiment(cfg.experiment)
    except Exception as err:  # noqa: BLE001 - any failure here means the store is unusable
        raise TrackingError(f"cannot reach the MLflow tracking store at {uri} ({err.__class__.__name__}); "
                            "start the server, fix --tracking-uri, or run with --no-tracking") from None
    return mlflow


@contextmanager
def tracked_run(cfg: PipelineConfig) -> Iterator[Optional[object]]:
    """Yields the active MLflow run (or None with tracking off); a failure marks it FAILED with the error."""
    if not cfg.tracking.enabled:
        yield None
        return
    exported = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow = _setup(cfg)
    try:
        with mlflow.start_run(run_name=f"{cfg.name}") as run:
            mlflow.log_params({k: ("null" if v is None else v) for k, v in flatten(to_dict(cfg)).items()})
            mlflow.log_text(dump_yaml(cfg), "config.yaml")
            try:
                yield run
            except BaseException as err:
                mlflow.set_tag("error", str(err)[:4000])
                mlflow.end_run(status="FAILED")
                raise
    finally:
        # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; undo that, or the next run in this
        # process (another output folder, a scheduler's next job) would log into this run's store.
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported


def log_results(results: RunResults, log_file: Optional[Path] = None) -> None:
    """Per-epoch training metrics, evaluation metrics, blessing and push, into the active run."""
    import mlflow

    mlflow.set_tags({"tfx.pipeline_run_id": results.pipeline_run_id,
                     **{f"mlmd.execution_id.{k}": v for k, v in results.execution_ids.items()}})
    for split, n in results.example_counts.items():
        mlflow.log_metric(f"data.examples.{split}", n)
    for row in results.history:
        mlflow.log_metrics({f"train.{k}": v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
    if results.history:
        mlflow.log_metric("train.epochs_run", len(results.history))
    if results.metrics:
        mlflow.log_metrics({f"eval.{k}".replace("/", "."): v for k, v in results.metrics.items()})
    if results.blessed is not None:
        mlflow.set_tag("blessed", str(results.blessed).lower())
        mlflow.log_metric("eval.blessed", int(results.blessed))
    if results.pushed_path:
        mlflow.set_tag("pushed_path", results.pushed_path)
    if results.tuned:
        mlflow.log_params({f"tuned.{k}": v for k, v in results.tuned.items()})
    if results.baseline:
        mlflow.log_metrics({f"baseline.{k}": float(results.baseline[k])
                            for k in ("baseline_accuracy", "cnn_accuracy", "lift")})
    if results.diagnostics:
        mlflow.log_metrics({f"diagnostics.{name}.flagged": int(r.get("flagged", False))
                            for name, r in results.diagnostics.items()})
        mlflow.set_tags({f"diagnostics.{name}": r.get("message", "")[:5000] for name, r in results.diagnostics.items()})
        mlflow.log_dict(results.diagnostics, "diagnostics/diagnostics.json")
    if log_file and log_file.exists():
        mlflow.log_artifact(str(log_file), "logs")


def log_child_run(name: str, metrics: dict) -> str:
    """A child run (nested in the active run) holding `metrics`; returns its id."""
    import mlflow

    with mlflow.start_run(run_name=name, nested=True) as child:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    return child.info.run_id
