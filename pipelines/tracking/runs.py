"""MLflow as the record of every pipeline run.

One parent MLflow run per pipeline run, in an experiment named after the pipeline, with the
resolved config as params and YAML (only what its pipeline reads: ``edgeflow.config.task_dict``);
after the run, a child run per step that produced results (``data``, ``train``, ``evaluate``,
``push``), tags that link to TFX and ML Metadata (pipeline run id, execution ids), the git
commit and a content fingerprint of the data. A blessed model becomes a new version of the
registered model named after the pipeline, with the ``champion`` alias moved to it.

Embedded by default (``sqlite:///<output>/mlflow.db``, artifacts under ``<output>/mlartifacts``);
``tracking.uri``, ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` sends everything to a server.
A server that is down at start stops the run with one sentence (``--no-tracking`` runs
without it); one that goes away mid-run costs only the records named at the end.
"""
from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from edgeflow import EdgeflowError
from edgeflow.components.shared.records import fingerprint  # noqa: F401 - the data's print, used here and by tests
from edgeflow.config import APPLIES_TO, PipelineConfig, task_dict, task_yaml
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
    # MLFLOW_TRACKING_URI is read once, by the CLI, into tracking.uri: mlflow.set_tracking_uri
    # rewrites that variable in this process, so reading it here would follow the last store used.
    return cfg.tracking_uri


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (out.stdout.strip() + ("-dirty" if dirty else "")) if out.returncode == 0 else "unknown"


@contextmanager
def _no_retries() -> Iterator[None]:
    """MLflow's HTTP client gives up on the first failed request inside (it retries for minutes by default)."""
    retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        yield
    finally:
        if retries is None:
            os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        else:
            os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = retries


def _connect(cfg: PipelineConfig):
    import mlflow

    uri = tracking_uri(cfg)
    if uri.startswith("sqlite:"):
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    try:
        with _no_retries():  # a server that is down: say so now, not in minutes
            from edgeflow.models.training.live_tracking import artifact_location, experiment_id

            # created with its artifacts beside a local store, and tagged: MLflow's UI opens its training view
            experiment_id(mlflow.tracking.MlflowClient(), cfg.experiment, artifact_location(uri, cfg.experiment))
            mlflow.set_experiment(cfg.experiment)
    except Exception as err:  # noqa: BLE001 - any failure here means the store is unusable
        raise TrackingError(f"cannot reach the MLflow tracking store at {uri} ({err.__class__.__name__}); "
                            "start the server, fix --tracking-uri, or run with --no-tracking") from None
    return mlflow


class Recorder:
    """Writes records into MLflow; a record that fails (the server went away) is named, not fatal."""

    def __init__(self):
        self.unwritten: List[str] = []
        self.server_down = False  # after a connection failure, later records are skipped, not retried

    def __call__(self, what: str, fn: Callable[[], object]) -> None:
        if self.server_down:
            self.unwritten.append(what)
            return
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - tracking must never lose a finished pipeline run
            self.unwritten.append(what)
            self.server_down = "connect" in f"{err.__class__.__name__} {err}".lower()
            log.debug("MLflow record %s not written", what, exc_info=True)
            log.warning("MLflow: could not write %s (%s: %s)", what, err.__class__.__name__, str(err)[:300])


@contextmanager
def tracked_run(cfg: PipelineConfig) -> Iterator[Optional[object]]:
    """Yields the active parent MLflow run (None with tracking off).

    The run's terminal status is written here and only here: FINISHED when the body returns,
    FAILED (with the error as a tag) when anything stops it, a SIGTERM's KeyboardInterrupt included.
    A run that is still open when the process exits is ended FAILED (:func:`_fail_open_runs_at_exit`),
    never FINISHED by MLflow's own exit hook, and a FAILED run stays FAILED (:func:`end_status`)."""
    if not cfg.tracking.enabled:
        yield None
        return
    exported = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        mlflow = _connect(cfg)
    except TrackingError:
        _restore_uri(exported)  # the store was unreachable: later runs and their components must not follow it
        raise
    _guard_exit()
    run = mlflow.start_run(run_name=cfg.name)
    client, record, status = mlflow.tracking.MlflowClient(), Recorder(), "FAILED"
    try:
        record("params", lambda: mlflow.log_params({k: ("null" if v is None else v)
                                                    for k, v in flatten(task_dict(cfg)).items()}))
        record("config", lambda: mlflow.log_text(task_yaml(cfg), "config.yaml"))
        record("tags", lambda: mlflow.set_tags({"git_commit": git_commit(), "edgeflow.pipeline": cfg.name}))
        yield run
        status = "FINISHED"
    except BaseException as err:
        message = str(err)[:4000] or err.__class__.__name__
        record("failure status", lambda: (fail_open_children(run), client.set_tag(run.info.run_id, "error", message)))
        raise
    finally:
        _restore_uri(exported)
        _end_fluent_runs(mlflow, client, run.info.run_id, status, record)


def _restore_uri(exported: Optional[str]) -> None:
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; undo that (also when the store was
    unreachable), or the next run in this process, and the components (the variable wins there),
    would log into this run's store."""
    if exported is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = exported


def end_status(client, run_id: str, status: str) -> str:
    """The status to end `run_id` with: `status`, unless the run already ended FAILED or KILLED
    (by its own failure path, or by the reaper of a run whose process was gone): those stay."""
    current = client.get_run(run_id).info.status
    return current if current in ("FAILED", "KILLED") else status


def _end_fluent_runs(mlflow, client, run_id: str, status: str, record: Recorder) -> None:
    """Empties MLflow's fluent stack down to `run_id`: children still open end FAILED, the parent
    with `status` (or the FAILED/KILLED it already has). mlflow.end_run pops before it writes, so the
    stack empties even with the store gone (the next run in this process starts clean); those writes
    are then tried once, not retried for minutes, and the reaper marks the runs FAILED later."""
    while (active := mlflow.active_run()) is not None:
        parent = active.info.run_id == run_id
        final = [status if parent else "FAILED"]
        if parent:
            record("the run's current status", lambda: final.__setitem__(0, end_status(client, run_id, status)))
        try:
            with _no_retries():
                mlflow.end_run(status=final[0])
        except Exception as err:  # noqa: BLE001 - popped already; only the status write was lost
            record.unwritten.append("the run status" if parent else "an open child's status")
            log.warning("MLflow: could not write the run status (%s: %s)", err.__class__.__name__, str(err)[:300])
        if parent:
            return


def _fail_open_runs_at_exit() -> None:
    """Registered after MLflow's own exit hook, so it runs first: a run still open when the process
    exits did not reach its end in :func:`tracked_run` (stopped between the two), so it failed."""
    import mlflow

    while mlflow.active_run() is not None:
        try:
            mlflow.end_run(status="FAILED")
        except Exception:  # noqa: BLE001 - at exit, with the store gone, the reaper marks it later
            pass


_EXIT_GUARDED: List[bool] = []


def _guard_exit() -> None:
    if not _EXIT_GUARDED:
        import atexit

        atexit.register(_fail_open_runs_at_exit)  # after `import mlflow` registered MLflow's hook: runs first
        _EXIT_GUARDED.append(True)


def fail_open_children(parent) -> None:
    """`parent`'s children still RUNNING (a component that wrote its own record, then failed) -> FAILED."""
    import mlflow

    client = mlflow.tracking.MlflowClient()
    for r in client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}' "
                                "and attributes.status = 'RUNNING'"):
        client.set_terminated(r.info.run_id, "FAILED")


def tag_pipeline_run(run, pipeline_run_id: str) -> None:
    """Tags the parent with the TFX pipeline run id before the pipeline starts: the components find
    it by that tag and write their own child runs into it (models/training/live_tracking.py)."""
    import mlflow

    if run is not None:
        Recorder()("the pipeline run id", lambda: mlflow.set_tag("tfx.pipeline_run_id", pipeline_run_id))


def existing_child(step: str):
    """The active run's `step` child that a component already wrote (an ``mlflow.entities.Run``), or None."""
    import mlflow

    parent = mlflow.active_run()
    runs = mlflow.tracking.MlflowClient().search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}' and "
        f"tags.`edgeflow.step` = '{step}'", max_results=1)
    return runs[0] if runs else None


def log_time_step_gradients(results: RunResults) -> None:
    """Into the active (train) run: the gradient-through-time plot, the profile as metric
    ``time_step_gradient_norm`` at steps 1..W, its decay summary, and the verdict as a tag."""
    import mlflow

    tsg = results.time_step_gradients
    if results.time_step_gradients_plot:
        mlflow.log_artifact(results.time_step_gradients_plot, "diagnostics")
    if not tsg:
        return
    mlflow.log_dict(tsg, "diagnostics/time_step_gradients.json")
    for t, norm in enumerate(tsg.get("profile") or [], start=1):  # JSON null = not finite
        if norm is not None:
            mlflow.log_metric("time_step_gradient_norm", norm, step=t)
    mlflow.log_metrics({f"time_step_gradients.{k}": float(tsg[k]) for k in ("first_to_last", "efold_steps")
                        if tsg.get(k) is not None})
    mlflow.log_metric("time_step_gradients.vanishing", int(bool(tsg.get("vanishing"))))
    if tsg.get("message"):
        mlflow.set_tag("diagnostics.time_step_gradients", tsg["message"][:5000])


def log_results(cfg: PipelineConfig, results: RunResults, log_file: Optional[Path] = None) -> List[str]:
    """Everything the pipeline run produced, as child runs of the active run. Returns unwritten records."""
    import mlflow

    from edgeflow.components.shared import plots, records
    from edgeflow.models.training.live_tracking import RECORDED_BY_TAG
    from edgeflow.pipelines.tracking import registry as registry

    record = Recorder()
    tags = {"tfx.pipeline_run_id": results.pipeline_run_id,
            **{f"mlmd.execution_id.{k}": str(v) for k, v in results.execution_ids.items()}}
    if results.input_base:
        tags["data.path"] = results.input_base
        record("data fingerprint", lambda: tags.__setitem__("data.fingerprint", fingerprint(results.input_base)))
    record("tags", lambda: mlflow.set_tags(tags))
    tmp = Path(tempfile.mkdtemp(prefix="edgeflow-mlflow-"))

    def child(name: str, write: Callable[[str], None], extras: Optional[Callable[[], None]] = None) -> None:
        """`name`'s child run: the one its component wrote (then only `extras` are added), or else one the
        runner writes with the component's own writer (its result came from TFX's cache, or its store was down)."""
        def run_child():
            found = existing_child(name)
            with mlflow.start_run(run_id=found and found.info.run_id, run_name=None if found else name,
                                  nested=True) as run:
                mlflow.set_tags({**tags, "edgeflow.step": name})
                if found is None or found.info.status != "FINISHED":
                    mlflow.set_tag(RECORDED_BY_TAG, "runner")
                    write(run.info.run_id)
                if extras:
                    extras()
        record(f"the {name} step", run_child)

    client = mlflow.tracking.MlflowClient()

    def train_extras():  # what only the runner draws: the curves, the gradient-through-time plot
        mlflow.log_artifact(str(plots.training_curves(results.history, tmp / "training_curves.png")))
        if results.time_step_gradients or results.time_step_gradients_plot:
            log_time_step_gradients(results)

    def train_step(_):  # what the Trainer logs live (models/training/live_tracking.py), from its history
        sections = task_dict(cfg)  # the task's own sections (image: image, model, ...) and train
        own = [s for s, pipelines in APPLIES_TO.items() if "." not in s and pipelines == (cfg.name,)]
        mlflow.log_params({k: ("null" if v is None else v) for k, v in flatten(
            {s: sections[s] for s in [*own, "train"] if s in sections}).items()})
        for row in results.history:
            mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
        mlflow.log_metric("epochs_run", len(results.history))

    def register():  # in the parent run, so a version's run carries the headline metrics
        info = registry.log_pushed_model(results.pushed_path,
                                         registry.input_example(results.pushed_path, results.input_base))
        version = registry.register_champion(info.model_uri, cfg.model_name,
                                             tags=registry.lineage_tags(results.lineage))
        mlflow.set_tag("registered_version", version)
        log.info("registered model %s version %s as %s", cfg.model_name, version, registry.CHAMPION)

    if results.example_counts:
        child("data", lambda run: records.write_data(client, run, results.example_counts, results.anomalies,
                                                     results.schema_uri, results.input_base))
    if results.history:  # the Trainer logged its epochs live: the runner adds the plots, never the epochs again
        child("train", train_step, train_extras)
    if results.evaluation_uri:
        child("evaluate", lambda run: records.write_evaluate(client, run, results.metrics, results.blessed,
                                                             results.blessing_reason, results.evaluation_uri,
                                                             results.class_names))
    if results.pushed_path:
        child("push", lambda run: records.write_push(client, run, results.pushed_path))

    # The parent carries the headline numbers, for the experiment table.
    summary = {f"eval.{k}": v for k, v in results.metrics.items() if "/" not in k}
    summary.update({f"data.examples.{k}": v for k, v in results.example_counts.items()})
    if results.blessed is not None:
        summary["eval.blessed"] = int(results.blessed)
    if results.baseline:  # the shallow baseline and the CNN's lift over it
        summary.update({f"baseline.{k}": float(results.baseline[k]) for k in ("baseline_accuracy", "cnn_accuracy", "lift")})
    if results.diagnostics:
        summary.update({f"diagnostics.{n}.flagged": int(r.get("flagged", False)) for n, r in results.diagnostics.items()})
        record("diagnostics", lambda: (
            mlflow.set_tags({f"diagnostics.{n}": r.get("message", "")[:5000] for n, r in results.diagnostics.items()}),
            mlflow.log_dict(results.diagnostics, "diagnostics/diagnostics.json")))
    if results.time_step_gradients:
        summary["diagnostics.time_step_gradients.flagged"] = int(bool(results.time_step_gradients.get("flagged")))
    if results.tuned:
        record("tuned hyperparameters", lambda: mlflow.log_params({f"tuned.{k}": v for k, v in results.tuned.items()}))
    record("summary metrics", lambda: mlflow.log_metrics(summary))
    record("summary tags", lambda: mlflow.set_tags(
        {"blessed": str(results.blessed).lower(),
         **({"blessing_reason": results.blessing_reason[:5000]} if results.blessing_reason else {}),
         **({"pushed_path": results.pushed_path} if results.pushed_path else {})}))
    if results.pushed_path and results.blessed:
        record("the registered model", register)
    if log_file and log_file.exists():
        record("the log file", lambda: mlflow.log_artifact(str(log_file), "logs"))
    if record.unwritten:
        log.warning("MLflow: the run finished, but these records were not written: %s", ", ".join(record.unwritten))
    return record.unwritten


def log_child_run(name: str, metrics: dict) -> str:
    """A child run (nested in the active run) holding `metrics`; returns its id."""
    import mlflow

    with mlflow.start_run(run_name=name, nested=True) as child:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    return child.info.run_id
