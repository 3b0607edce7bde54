"""Runs a pipeline with TFX's LocalDagRunner (Beam DirectRunner), tracked in MLflow, and summarizes it."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Optional, Sequence

from edgeflow import EdgeflowError
from edgeflow.pipelines.config import PipelineConfig
from edgeflow.pipelines.logs import ComponentProgress, setup_logging
from edgeflow.pipelines.results import RunResults, read_run

log = logging.getLogger("edgeflow")


@dataclass
class RunOutcome:
    results: RunResults
    mlflow_run_id: Optional[str]
    seconds: float


def prepare_image_data(cfg: PipelineConfig):
    """The folder to ingest (the bundled digits unless data.path is set), checked before the run."""
    from edgeflow.components.image_folder import scan_image_folder
    from edgeflow.pipelines.datasets import write_digits_folder

    root = cfg.data.path or write_digits_folder(cfg.output_dir / "data", cfg.data.limit_per_class)
    scan = scan_image_folder(root, cfg.data.max_bad_fraction)
    log.info("data: %d images in %d classes from %s%s", len(scan.files), len(scan.classes), scan.root,
             f" ({len(scan.bad)} unreadable files skipped, named in the log)" if scan.bad else "")
    return scan


def run_image_pipeline(cfg: PipelineConfig, beam_args: Sequence[str] = ()) -> RunOutcome:
    from tfx import v1 as tfx

    from edgeflow.pipelines import tracking
    from edgeflow.pipelines.image import create_pipeline

    log_file = setup_logging(cfg.output_dir / "logs", cfg.name)
    log.info("edgeflow run %s  (full log: %s)", cfg.name, log_file)
    t0 = time.time()
    scan = prepare_image_data(cfg)
    pipeline = create_pipeline(cfg, str(scan.root), scan.classes, beam_args)
    progress = ComponentProgress([c.id for c in pipeline.components])
    root = logging.getLogger()
    with tracking.tracked_run(cfg) as run:
        root.addHandler(progress)
        try:
            tfx.orchestration.LocalDagRunner().run(pipeline)
        finally:
            root.removeHandler(progress)
        results = read_run(cfg.metadata_path, cfg.name)
        if run is not None:
            tracking.log_results(results, log_file)
    return RunOutcome(results, run.info.run_id if run is not None else None, time.time() - t0)


def user_error(err: BaseException) -> Optional[EdgeflowError]:
    """The EdgeflowError somewhere in an exception chain (TFX and Beam wrap component errors)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, EdgeflowError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None
