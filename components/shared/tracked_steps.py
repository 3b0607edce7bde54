"""TFX's stock ExampleValidator, Evaluator and Pusher, each writing its step's MLflow record itself.

Same parameters, ids and outputs as the stock components, plus ``tracking`` (the settings of
pipelines/common.py ``tracking_settings``: store, experiment, pipeline, and for some steps the data
path and class names). After the stock executor has run, :class:`RecordingExecutor` writes the step's
record (components/shared/records.py) into the ``data``, ``evaluate`` or ``push`` child of the
pipeline run's parent, found or created by the pipeline run id TFX gives every executor on every
orchestrator. A store that is down costs one warning, never the step.
"""
from __future__ import annotations

import json
from typing import Optional

from tfx import v1 as tfx
from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.example_validator import executor as validator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs as specs
from tfx.types.component_spec import ExecutionParameter

from edgeflow.components.shared import records
from edgeflow.components.shared.atomic_push import AtomicPushExecutor
from edgeflow.models.training.live_tracking import RUN_ID_TAG, StepRecorder, TrackingTarget

TRACKING_KEY = "tracking"


def _with_tracking(spec_cls):
    return type(f"Tracked{spec_cls.__name__}", (spec_cls,), {
        "PARAMETERS": {**spec_cls.PARAMETERS, TRACKING_KEY: ExecutionParameter(type=str, optional=True)}})


class RecordingExecutor:
    """Mixin over a stock executor: its ``Do``, then :meth:`record` into the ``STEP`` child run."""

    STEP = ""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 - TFX's name
        settings = json.loads(exec_properties.get(TRACKING_KEY) or "{}")
        super().Do(input_dict, output_dict, {k: v for k, v in exec_properties.items() if k != TRACKING_KEY})
        self.record_step(settings, input_dict, output_dict)

    def record_step(self, settings: dict, input_dict, output_dict) -> None:
        run_id = getattr(self._context, "pipeline_run_id", None) if self._context else None
        target = TrackingTarget.from_custom_config({TRACKING_KEY: settings, RUN_ID_TAG: run_id})
        if target is None:
            return
        recorder = StepRecorder(target, self.STEP)
        recorder(f"the {self.STEP} record", lambda client, run: self.record(client, run, settings, input_dict, output_dict))
        recorder.finish()

    def record(self, client, run_id: str, settings: dict, input_dict, output_dict) -> None:
        raise NotImplementedError


class _Tracked:
    """Rebuilds the stock component's spec as its ``Tracked*`` subclass, with ``tracking`` set, and
    keeps the stock component's id (``COMPONENT_ID``), so pipelines and ML Metadata read the same."""

    COMPONENT_ID = ""

    def __init__(self, tracking: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        self._track(tracking)
        self.with_id(self.COMPONENT_ID)

    def _validate_spec(self, spec):  # the stock __init__ builds the stock spec; _track replaces it
        if not isinstance(spec, self.SPEC_CLASS.__mro__[1]):
            raise TypeError(f"{self.__class__.__name__} got a {type(spec).__name__}")

    def _track(self, tracking: Optional[dict]) -> None:
        spec = self.spec
        self.spec = self.SPEC_CLASS(**spec.inputs, **spec.outputs, **spec.exec_properties,
                                    **{TRACKING_KEY: json.dumps(tracking or {}, sort_keys=True)})


# ---- data: ExampleValidator (statistics, schema -> anomalies) -----------------------------------

class TrackedExampleValidatorExecutor(RecordingExecutor, validator_executor.Executor):
    STEP = "data"

    def record(self, client, run_id, settings, input_dict, output_dict):
        import os

        from edgeflow.components.shared.anomaly_gate import read_anomalies

        [statistics], [schema] = input_dict["statistics"], input_dict["schema"]
        records.write_data(client, run_id, records.example_counts(statistics), read_anomalies(output_dict["anomalies"][0]),
                           os.path.join(schema.uri, "schema.pbtxt"), settings.get("data"))


class TrackedExampleValidator(_Tracked, tfx.components.ExampleValidator):
    SPEC_CLASS = _with_tracking(specs.ExampleValidatorSpec)
    COMPONENT_ID = "ExampleValidator"
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(TrackedExampleValidatorExecutor)


# ---- evaluate: Evaluator (TFMA metrics, blessing) ------------------------------------------------

def record_evaluation(client, run_id: str, settings: dict, output_dict) -> None:
    """The evaluate record from an evaluator's ``evaluation`` and ``blessing`` outputs."""
    from edgeflow.components.shared.eval_metrics import read_eval_metrics

    [evaluation], [blessing] = output_dict["evaluation"], output_dict["blessing"]
    blessed = bool(blessing.get_int_custom_property("blessed")) if blessing.has_custom_property("blessed") else None
    reason = blessing.get_string_custom_property("reason") or None
    records.write_evaluate(client, run_id, read_eval_metrics(evaluation.uri), blessed, reason, evaluation.uri,
                           settings.get("class_names") or ())


class TrackedEvaluatorExecutor(RecordingExecutor, evaluator_executor.Executor):
    STEP = "evaluate"

    def record(self, client, run_id, settings, input_dict, output_dict):
        record_evaluation(client, run_id, settings, output_dict)


class TrackedEvaluator(_Tracked, tfx.components.Evaluator):
    SPEC_CLASS = _with_tracking(specs.EvaluatorSpec)
    COMPONENT_ID = "Evaluator"
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(TrackedEvaluatorExecutor)


# ---- push: Pusher (a blessed model -> TF Serving's layout) ---------------------------------------

class TrackedPusherExecutor(RecordingExecutor, AtomicPushExecutor):  # atomic: components/shared/atomic_push.py
    STEP = "push"

    def record_step(self, settings, input_dict, output_dict):
        if output_dict["pushed_model"][0].get_int_custom_property("pushed"):  # not blessed: no push step
            super().record_step(settings, input_dict, output_dict)

    def record(self, client, run_id, settings, input_dict, output_dict):
        records.write_push(client, run_id, output_dict["pushed_model"][0].get_string_custom_property("pushed_destination"))


class TrackedPusher(_Tracked, tfx.components.Pusher):
    SPEC_CLASS = _with_tracking(specs.PusherSpec)
    COMPONENT_ID = "Pusher"
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(TrackedPusherExecutor)
