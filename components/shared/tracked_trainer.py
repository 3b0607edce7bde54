"""TFX's Trainer, with the pipeline run id handed to ``run_fn`` (for the live MLflow record).

TFX gives an executor its pipeline run id (``self._context.pipeline_run_id``) on every orchestrator
(LocalDagRunner, BeamDagRunner, Kubeflow), but not ``run_fn``'s ``fn_args``. This executor adds it to
``fn_args.custom_config["tfx.pipeline_run_id"]``, where models/training/live_tracking.py finds the
pipeline run's MLflow parent and its ``train`` child.
"""
from __future__ import annotations

from tfx import v1 as tfx
from tfx.components.trainer.executor import GenericExecutor
from tfx.dsl.components.base import executor_spec

from edgeflow.models.training.live_tracking import RUN_ID_TAG


class TrackedTrainerExecutor(GenericExecutor):
    def _GetFnArgs(self, input_dict, output_dict, exec_properties):
        fn_args = super()._GetFnArgs(input_dict, output_dict, exec_properties)
        run_id = getattr(self._context, "pipeline_run_id", None) if self._context else None
        if run_id:
            fn_args.custom_config = {**(fn_args.custom_config or {}), RUN_ID_TAG: run_id}
        return fn_args


class TrackedTrainer(tfx.components.Trainer):
    """``tfx.components.Trainer`` (same parameters, same id ``Trainer``) running :class:`TrackedTrainerExecutor`."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(TrackedTrainerExecutor)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.with_id("Trainer")
