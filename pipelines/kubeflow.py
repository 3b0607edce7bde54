"""``edgeflow compile <pipeline> --target kubeflow``: a Kubeflow Pipelines / Vertex AI spec.

The same ``build(cfg, beam_args)`` that LocalDagRunner runs is compiled by TFX's
KubeflowV2DagRunner into a PipelineJob JSON, ready to upload (KFP UI or
``kfp.Client().upload_pipeline``, Vertex AI ``aiplatform.PipelineJob(template_path=...)``).
Each step runs in ``kubeflow.image`` (a container with edgeflow installed); data and
``kubeflow.pipeline_root`` must be paths the cluster can read (e.g. gs://...). The KFP v2
spec has no schedule field, so ``kubeflow.schedule`` is written beside it as
``<pipeline>.schedule.json`` for a recurring run (KFP's cron has 6 fields, seconds first).
Needs kfp==2.5.0 and kfp-pipeline-spec==0.2.2 (pinned in pyproject.toml).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

from edgeflow import EdgeflowError
from edgeflow.config import PipelineConfig

log = logging.getLogger("edgeflow")


def compile_kubeflow(cfg: PipelineConfig, out_dir: Path, beam_args: Sequence[str] = ()) -> Path:
    """Writes ``<out_dir>/<pipeline>.json`` (and the schedule file when set); returns the spec's path."""
    try:
        from tfx.v1.orchestration.experimental import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig
    except ImportError:
        raise EdgeflowError("KubeflowV2DagRunner needs kfp==2.5.0 and kfp-pipeline-spec==0.2.2; "
                            "reinstall edgeflow (make .venv/.installed) to get them") from None
    from edgeflow.pipelines.runner import build_pipeline

    if cfg.kubeflow.schedule:
        from edgeflow.pipelines.scheduler import parse_cron

        parse_cron(cfg.kubeflow.schedule)
    pipeline = build_pipeline(cfg, beam_args)
    from edgeflow.pipelines.common import plain_blessed_resolvers

    plain_blessed_resolvers(pipeline)  # KFP's compiler knows only TFX's own resolver strategies
    if cfg.kubeflow.pipeline_root:
        pipeline.pipeline_info.pipeline_root = cfg.kubeflow.pipeline_root
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = out_dir / f"{cfg.name}.json"
    if spec.exists():
        spec.unlink()  # the runner refuses to overwrite
    runner = KubeflowV2DagRunner(config=KubeflowV2DagRunnerConfig(default_image=cfg.kubeflow.image),
                                 output_dir=str(out_dir), output_filename=spec.name)
    runner.run(pipeline, write_out=True)
    if cfg.kubeflow.schedule:
        (out_dir / f"{cfg.name}.schedule.json").write_text(json.dumps(
            {"pipeline_spec": spec.name, "cron": cfg.kubeflow.schedule}, indent=2) + "\n")
    log.info("wrote %s (%d components, image %s)", spec, len(pipeline.components), cfg.kubeflow.image)
    return spec
