"""Run history (``edgeflow runs``): MLflow's runs of a pipeline joined with ML Metadata's spans.

MLflow knows each run's status, start and end, its blessing and its error; ML Metadata knows
which span the ExampleGen read (the ``span`` property of its execution). A run whose process
died without ending its MLflow run (SIGKILL, power loss) stays RUNNING in MLflow; while nobody
holds the pipeline's run lock, :func:`reap_stale_runs` marks such runs FAILED: the scheduler
before each run, and ``edgeflow run`` itself, under the lock, when its MLflow store is the embedded
one of its output folder (a shared server's experiment may hold live runs of other output folders).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional

from edgeflow.config import PipelineConfig
from edgeflow.pipelines.locks import is_locked, run_lock_path

log = logging.getLogger("edgeflow")


@dataclass(frozen=True)
class RunRecord:
    mlflow_run_id: str
    status: str  # FINISHED, FAILED, RUNNING
    start: float  # epoch seconds
    seconds: Optional[float]
    span: Optional[int]
    outcome: str  # "pushed", "not blessed", "failed: <reason>", "running"
    pipeline_run_id: Optional[str] = None


def _client(cfg: PipelineConfig):
    import mlflow

    from edgeflow.pipelines.tracking.runs import tracking_uri

    return mlflow.tracking.MlflowClient(tracking_uri(cfg))


def read_span(cfg: PipelineConfig, pipeline_run_id: Optional[str]) -> Optional[int]:
    """The span the ExampleGen of `pipeline_run_id` read (None without spans or records)."""
    if not pipeline_run_id or not cfg.metadata_path.exists():
        return None
    from edgeflow.pipelines.results import open_store

    store = open_store(cfg.metadata_path)
    ctx = store.get_context_by_type_and_name("pipeline_run", pipeline_run_id)
    if ctx is None:
        return None
    executions = store.get_executions_by_context(ctx.id)
    for ex in executions:  # the ExampleGen execution of a fresh run records its span
        if "span" in ex.custom_properties:
            return ex.custom_properties["span"].int_value
    # A cached ExampleGen execution does not; the Examples artifact it reused does.
    examples_type = store.get_artifact_type("Examples").id
    ids = [e.artifact_id for e in store.get_events_by_execution_ids([ex.id for ex in executions])]
    spans = [a.custom_properties["span"].int_value for a in store.get_artifacts_by_id(ids)
             if a.type_id == examples_type and "span" in a.custom_properties]
    return max(spans) if spans else None


def _outcome(run) -> str:
    if run.info.status == "RUNNING":
        return "running"
    if run.info.status != "FINISHED":
        return "failed: " + run.data.tags.get("error", run.info.status.lower()).splitlines()[0][:120]
    blessed = run.data.metrics.get("eval.blessed")
    return "pushed" if blessed == 1.0 else "not blessed" if blessed == 0.0 else "finished"


def _spanned(run) -> bool:
    """Whether the run's data.pattern had {SPAN} (TFX records span 0 for every other run too)."""
    return "{SPAN" in run.data.params.get("data.pattern", "{SPAN}")


def list_runs(cfg: PipelineConfig, limit: int = 50) -> List[RunRecord]:
    """The newest `limit` runs of the pipeline, newest first."""
    client = _client(cfg)
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=limit * 6)
    out = []
    for r in [r for r in runs if "mlflow.parentRunId" not in r.data.tags][:limit]:  # parents, not step runs
        prid = r.data.tags.get("tfx.pipeline_run_id")
        end = r.info.end_time
        out.append(RunRecord(r.info.run_id, r.info.status, r.info.start_time / 1000,
                             (end - r.info.start_time) / 1000 if end else None,
                             read_span(cfg, prid) if _spanned(r) else None, _outcome(r), prid))
    return out


def reap_stale_runs(cfg: PipelineConfig, lock_held: bool = False) -> int:
    """Marks RUNNING MLflow runs FAILED when no other process holds the pipeline's run lock (`lock_held`:
    the caller holds it, before its own run starts); returns how many."""
    if not lock_held and is_locked(run_lock_path(cfg)):
        return 0
    client = _client(cfg)
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is None:
        return 0
    stale = client.search_runs([exp.experiment_id], filter_string="attributes.status = 'RUNNING'")
    for r in stale:
        client.set_tag(r.info.run_id, "error", "the run's process ended without finishing (killed)")
        client.set_terminated(r.info.run_id, status="FAILED")
    if stale:
        log.info("marked %d unfinished run(s) of %s FAILED (their process was gone)", len(stale), cfg.name)
    return len(stale)


def format_runs(records: List[RunRecord]) -> List[str]:
    import time

    lines = [f"{'started':19}  {'status':8}  {'seconds':>7}  {'span':>4}  outcome"]
    for r in records:
        lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.start)):19}  {r.status:8}  "
                     f"{'' if r.seconds is None else f'{r.seconds:.0f}':>7}  {'' if r.span is None else r.span:>4}  "
                     f"{r.outcome}")
    return lines
