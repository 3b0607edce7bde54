"""MLflow from inside the pipeline: a step's child run, found or created by the TFX pipeline run id.

Every component that writes its own record goes through :func:`step_run`: in the experiment and at
the tracking URI that travel with the pipeline (``custom_config["tracking"]``, written by
pipelines/common.py; the environment variables ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME``
win, so a container on a cluster can be pointed at its own server), the parent run is the one tagged
``tfx.pipeline_run_id`` (the local runner opens it before the pipeline starts; a pipeline run under
another orchestrator gets one created by its first component) and the step is its child tagged
``edgeflow.step`` (and ``edgeflow.recorded_by=component``; the local runner's backfill of a step that
wrote nothing itself says ``runner``). :class:`LiveTracking` logs each epoch's metrics into the ``train``
child as the epoch ends, so the MLflow UI shows a training while it runs, and a killed one shows the
epochs it finished. Tracking never fails a training: the first failure is one warning, then it stays quiet.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

import tensorflow as tf

keras = tf.keras
log = logging.getLogger("edgeflow.train")

RUN_ID_TAG = "tfx.pipeline_run_id"
STEP_TAG = "edgeflow.step"
RECORDED_BY_TAG = "edgeflow.recorded_by"  # "component" (from inside the pipeline), or "runner" (its backfill)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # MLflow's UI opens its training view


@dataclass(frozen=True)
class TrackingTarget:
    """Where a step's record goes: the store, the experiment, the pipeline and its run."""
    uri: str
    experiment: str
    pipeline: str
    pipeline_run_id: str

    @classmethod
    def from_custom_config(cls, custom_config: Optional[dict]) -> Optional["TrackingTarget"]:
        """None when tracking is off or the pipeline run id is unknown (run_fn called outside TFX)."""
        cc = custom_config or {}
        settings = cc.get("tracking") or {}
        if not settings.get("enabled", False):
            return None
        uri = os.environ.get("MLFLOW_TRACKING_URI") or settings.get("uri")
        run_id = cc.get(RUN_ID_TAG) or os.environ.get("EDGEFLOW_PIPELINE_RUN_ID")
        if uri and not run_id:  # KubeflowV2's container entrypoint (TFX 1.16) gives executors no run id
            log.warning("MLflow: this step records nothing: no TFX pipeline run id reached it; set "
                        "EDGEFLOW_PIPELINE_RUN_ID (one value per pipeline run) in its environment")
        if not uri or not run_id:
            return None
        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or settings.get("experiment") or settings["pipeline"]
        return cls(uri, experiment, settings["pipeline"], run_id)


def experiment_id(client, name: str, artifact_location: Optional[str] = None) -> str:
    """The experiment `name`, created if missing, tagged with the kind that opens MLflow's training view."""
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name, artifact_location=artifact_location)
    if exp is None or exp.tags.get("mlflow.experimentKind") != EXPERIMENT_KIND["mlflow.experimentKind"]:
        for k, v in EXPERIMENT_KIND.items():
            client.set_experiment_tag(exp_id, k, v)
    return exp_id


def artifact_location(uri: str, experiment: str) -> Optional[str]:
    """For a local sqlite store, ``<store's folder>/mlartifacts/<experiment>`` (where the local runner puts
    them too), not ``./mlruns`` of whatever folder the step runs in; None (the server decides) otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    from pathlib import Path

    return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts" / experiment).as_uri()


def _find(client, exp_id: str, where: str, parent: Optional[str]):
    runs = client.search_runs([exp_id], where, max_results=50)
    runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    return min(runs, key=lambda r: r.info.start_time) if runs else None


def step_run(client, target: TrackingTarget, step: str) -> str:
    """The id of `step`'s child run under the parent of `target`'s pipeline run; both created if missing.

    A parent created here (no runner around the pipeline) is marked FINISHED at once: MLflow takes
    records into a finished run, and a run that no one ends would otherwise stay RUNNING for ever."""
    exp_id = experiment_id(client, target.experiment, artifact_location(target.uri, target.experiment))
    parent = _find(client, exp_id, f"tags.`{RUN_ID_TAG}` = '{target.pipeline_run_id}'", None)
    if parent is None:
        parent = client.create_run(exp_id, run_name=target.pipeline, tags={
            RUN_ID_TAG: target.pipeline_run_id, "edgeflow.pipeline": target.pipeline,
            "edgeflow.parent_created_by": step})
        client.set_terminated(parent.info.run_id, "FINISHED")
    child = _find(client, exp_id, f"tags.`{RUN_ID_TAG}` = '{target.pipeline_run_id}' and tags.`{STEP_TAG}` = '{step}'",
                  parent.info.run_id)
    if child is None:
        child = client.create_run(exp_id, run_name=step, tags={
            RUN_ID_TAG: target.pipeline_run_id, STEP_TAG: step, "mlflow.parentRunId": parent.info.run_id,
            RECORDED_BY_TAG: "component"})
    return child.info.run_id


class StepRecorder:
    """Writes into one step's child run; the first failure is one warning and turns recording off."""

    def __init__(self, target: Optional[TrackingTarget], step: str):
        self.target, self.step, self.run_id, self.client, self.failed = target, step, None, None, target is None

    def __call__(self, what: str, fn) -> None:
        """Calls ``fn(client, run_id)``, opening the run on first use."""
        if self.failed:
            return
        try:
            if self.client is None:
                from mlflow.tracking import MlflowClient

                self.client = MlflowClient(self.target.uri)
                self.run_id = step_run(self.client, self.target, self.step)
            fn(self.client, self.run_id)
        except Exception as err:  # noqa: BLE001 - tracking never fails a step
            self.failed = True
            log.warning("MLflow: the %s step stops recording at %s (%s: %s); the step itself goes on",
                        self.step, what, err.__class__.__name__, str(err)[:300])

    def finish(self, status: str = "FINISHED") -> None:
        self("the run status", lambda c, run: c.set_terminated(run, status))


def current_learning_rate(model) -> Optional[float]:
    lr = getattr(getattr(model, "optimizer", None), "learning_rate", None)
    try:
        return float(tf.keras.backend.get_value(lr)) if lr is not None else None
    except (TypeError, ValueError):  # a schedule object, not a value
        return None


class LiveTracking(keras.callbacks.Callback):
    """Each epoch's logs (loss, task metrics, ``val_*``, ``lr``) into the ``train`` child run at step
    epoch + 1, and the diagnostics' reports (``diagnostics.<name>.flagged`` plus the JSON) as they stand.

    `params`: logged once at the start (the train section and the task's own). `report`: the
    :class:`~edgeflow.models.training.diagnostics.DiagnosticsReport` the diagnostics write into."""

    def __init__(self, recorder: StepRecorder, params: Optional[dict] = None, report=None,
                 tensorboard_dir: Optional[str] = None):
        super().__init__()
        self.recorder, self.params_to_log, self.report, self.tensorboard_dir = recorder, params or {}, report, tensorboard_dir

    def on_train_begin(self, logs=None):
        self.epochs_run, self._diagnostics_seen = 0, None
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in self.params_to_log.items()]
        self.recorder("the parameters", lambda c, run: [c.log_batch(run, params=params[i:i + 100])
                                                        for i in range(0, len(params), 100)])
        if self.tensorboard_dir:
            self.recorder("the TensorBoard tag", lambda c, run: c.set_tag(run, "tensorboard.logdir", self.tensorboard_dir))

    def on_epoch_end(self, epoch, logs=None):
        import time

        from mlflow.entities import Metric

        values = {k: float(v) for k, v in (logs or {}).items()}
        if "lr" not in values and (lr := current_learning_rate(self.model)) is not None:
            values["lr"] = lr
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, epoch + 1) for k, v in values.items()]
        self.recorder(f"epoch {epoch + 1}", lambda c, run: c.log_batch(run, metrics=metrics))
        self.epochs_run = epoch + 1
        self._log_diagnostics()

    def on_train_end(self, logs=None):
        self.recorder("epochs_run", lambda c, run: c.log_metric(run, "epochs_run", self.epochs_run))
        self._log_diagnostics()
        self.recorder.finish()

    def _log_diagnostics(self):
        reports = dict(getattr(self.report, "reports", None) or {})
        if not reports or reports == self._diagnostics_seen:
            return
        self._diagnostics_seen = reports
        flags = {f"diagnostics.{n}.flagged": float(bool(r.get("flagged"))) for n, r in reports.items()}
        tags = {f"diagnostics.{n}": str(r.get("message", ""))[:5000] for n, r in reports.items()}

        def write(c, run):
            for k, v in flags.items():
                c.log_metric(run, k, v, step=self.epochs_run)
            for k, v in tags.items():
                c.set_tag(run, k, v)
            c.log_dict(run, reports, "diagnostics/diagnostics.json")
        self.recorder("the diagnostics", write)


def config_params(custom_config: dict) -> dict:
    """The config sections in `custom_config` (train, the task's own, ...) as flat ``section.key`` params."""
    out = {}
    for section, values in custom_config.items():
        if isinstance(values, dict) and section != "tracking":
            out.update({f"{section}.{k}": ("null" if v is None else v) for k, v in values.items()})
    return out


def live_tracking(fn_args, report=None, tensorboard_dir: Optional[str] = None) -> list:
    """``[LiveTracking]`` into the ``train`` child of the pipeline run in ``fn_args.custom_config``, or ``[]``."""
    cc = getattr(fn_args, "custom_config", None) or {}
    target = TrackingTarget.from_custom_config(cc)
    if target is None:
        return []
    return [LiveTracking(StepRecorder(target, "train"), config_params(cc), report, tensorboard_dir)]
