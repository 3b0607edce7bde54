"""Runs a pipeline on this machine, tracked in MLflow, and summarizes it.

``pipeline.orchestrator`` picks the TFX runner: ``local`` (LocalDagRunner, the default) or ``beam``
(BeamDagRunner: each component one Beam step). Both get the same compiled pipeline with the same
pipeline run id, so the components write the same MLflow record under either (docs/scaling.md)."""
from __future__ import annotations

import datetime
import importlib
import logging
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from edgeflow import EdgeflowError
from edgeflow.config import PipelineConfig
from edgeflow.pipelines.logs import ComponentProgress, setup_logging
from edgeflow.pipelines.results import RunResults, read_run

log = logging.getLogger("edgeflow")


@dataclass
class RunOutcome:
    results: RunResults
    mlflow_run_id: Optional[str]
    seconds: float
    component_seconds: Dict[str, float]
    cached_components: List[str] = field(default_factory=list)  # reused from TFX's cache (pipeline.cache)


# Pipeline name -> module with `build(cfg, beam_args) -> tfx.dsl.Pipeline` (imported on use).
PIPELINES = {
    "image": "edgeflow.pipelines.image",
    "sequence": "edgeflow.pipelines.sequence",
    "detection": "edgeflow.pipelines.detection",
}


def build_pipeline(cfg: PipelineConfig, beam_args: Sequence[str] = ()):
    if cfg.name not in PIPELINES:
        raise EdgeflowError(f"unknown pipeline {cfg.name!r}; choose one of: {', '.join(PIPELINES)}")
    return importlib.import_module(PIPELINES[cfg.name]).build(cfg, beam_args)


def resolve_config(cfg: PipelineConfig) -> PipelineConfig:
    """`cfg` with the settings its pipeline reads from the data chosen (the pipeline module's
    optional ``resolve(cfg)``). A data error is left for the build, inside the tracked run."""
    resolve = getattr(importlib.import_module(PIPELINES[cfg.name]), "resolve", None) if cfg.name in PIPELINES else None
    if resolve is None:
        return cfg
    try:
        return resolve(cfg)
    except EdgeflowError:
        return cfg


def run_pipeline(cfg: PipelineConfig, beam_args: Sequence[str] = ()) -> RunOutcome:
    """Builds and runs `cfg.name`'s pipeline locally inside one MLflow run; reads back its results."""
    from tfx import v1 as tfx

    from edgeflow.pipelines.tracking import runs as tracking
    from edgeflow.pipelines.killed import reap_killed
    from edgeflow.pipelines.locks import pipeline_lock

    with pipeline_lock(cfg):  # never two runs of one pipeline on one output folder at once
        reap_killed(cfg, tracking.tracking_uri(cfg))
        return _run_locked(cfg, beam_args, tfx, tracking)


def _run_locked(cfg: PipelineConfig, beam_args: Sequence[str], tfx, tracking) -> RunOutcome:
    log_file = setup_logging(cfg.output_dir / "logs", cfg.name)
    log.info("edgeflow run %s  (full log: %s)", cfg.name, log_file)
    t0 = time.time()
    root = logging.getLogger()
    cfg = resolve_config(cfg)  # before MLflow logs the config: its params show the chosen values
    with tracking.tracked_run(cfg) as run:
        pipeline = build_pipeline(cfg, beam_args)  # checks the data: a bad folder is a FAILED run
        progress = ComponentProgress([c.id for c in pipeline.components])
        root.addHandler(progress)
        try:
            run_id = datetime.datetime.now().isoformat()  # LocalDagRunner's own format, chosen here
            tracking.tag_pipeline_run(run, run_id)  # so the components find this parent run
            dag_runner(cfg.pipeline.orchestrator).run_with_ir(compile_with_run_id(pipeline, run_id))
        finally:
            root.removeHandler(progress)
        results = read_run(cfg.metadata_path, cfg.name)
        if results.pushed_path:  # TF Serving's models.config and batching_parameters for the serving root
            from edgeflow.serving.layout import write_serving_files
            write_serving_files(cfg.serving_root, cfg.serving.max_batch_size, cfg.serving.batch_timeout_ms,
                                cfg.serving.container_root)
        if run is not None:
            tracking.log_results(cfg, results, log_file)
    if progress.cached:
        log.info("reused from cache: %s", ", ".join(progress.cached))
    return RunOutcome(results, run.info.run_id if run is not None else None, time.time() - t0,
                      progress.durations, progress.cached)


def dag_runner(orchestrator: str):
    """TFX's runner for ``pipeline.orchestrator``: LocalDagRunner (``local``) or BeamDagRunner (``beam``)."""
    from tfx import v1 as tfx

    if orchestrator == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        return BeamDagRunner()
    return tfx.orchestration.LocalDagRunner()


def compile_with_run_id(pipeline, run_id: str):
    """The pipeline's IR with its pipeline run id set (LocalDagRunner and BeamDagRunner would otherwise
    pick one themselves, after the parent MLflow run that the components look it up by was opened)."""
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.portable import runtime_parameter_utils

    ir = compiler.Compiler().compile(pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    return ir


def user_error(err: BaseException) -> Optional[EdgeflowError]:
    """The EdgeflowError somewhere in an exception chain (TFX and Beam wrap component errors)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, EdgeflowError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None
