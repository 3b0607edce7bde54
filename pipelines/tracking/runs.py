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

import hashlib
import json
import logging
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from edgeflow import EdgeflowError
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


def fingerprint(path: str) -> str:
    """sha256 over every file's relative path and content under `path`: equal data, equal print."""
    root, digest = Path(path), hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    for f in files:
        digest.update(str(f.relative_to(root) if f != root else f.name).encode())
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()[:16]


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
            if mlflow.get_experiment_by_name(cfg.experiment) is None:
                location = (cfg.output_dir / "mlartifacts" / cfg.experiment).as_uri() if uri.startswith("sqlite:") else None
                mlflow.create_experiment(cfg.experiment, artifact_location=location)
            mlflow.set_experiment(cfg.experiment)
            from edgeflow.models.training.live_tracking import experiment_id

            experiment_id(mlflow.tracking.MlflowClient(), cfg.experiment)  # tagged: MLflow's UI opens its training view
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
    mlflow = _connect(cfg)
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
        # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; undo that, or the next run in this
        # process (another output folder) would log into this run's store.
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported
        _end_fluent_runs(mlflow, client, run.info.run_id, status, record)


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


def existing_child(step: str) -> Optional[str]:
    """The id of the active run's `step` child that a component already wrote, or None."""
    import mlflow

    parent = mlflow.active_run()
    runs = mlflow.tracking.MlflowClient().search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}' and "
        f"tags.`edgeflow.step` = '{step}'", max_results=1)
    return runs[0].info.run_id if runs else None


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

    from edgeflow.pipelines.tracking import plots as plots
    from edgeflow.pipelines.tracking import registry as registry

    record = Recorder()
    tags = {"tfx.pipeline_run_id": results.pipeline_run_id,
            **{f"mlmd.execution_id.{k}": str(v) for k, v in results.execution_ids.items()}}
    if results.input_base:
        tags["data.path"] = results.input_base
        record("data fingerprint", lambda: tags.__setitem__("data.fingerprint", fingerprint(results.input_base)))
    record("tags", lambda: mlflow.set_tags(tags))
    tmp = Path(tempfile.mkdtemp(prefix="edgeflow-mlflow-"))

    def child(name: str, body: Callable[[], None], run_id: Optional[str] = None) -> None:
        def run_child():  # `run_id`: the child a component wrote; the runner adds to it
            with mlflow.start_run(run_id=run_id, run_name=None if run_id else name, nested=True):
                mlflow.set_tags({**tags, "edgeflow.step": name})
                body()
        record(f"the {name} step", run_child)

    def data_step():
        mlflow.log_metrics({f"examples.{k}": v for k, v in results.example_counts.items()})
        mlflow.log_metric("anomalies", len(results.anomalies))
        mlflow.log_text("\n".join(results.anomalies) or "no anomalies\n", "anomalies.txt")
        if results.schema_uri and Path(results.schema_uri).exists():
            mlflow.log_artifact(results.schema_uri)
        if results.input_base and tags.get("data.fingerprint"):  # the run page's "Datasets"
            from edgeflow.pipelines.tracking.datasets import pipeline_dataset

            mlflow.log_input(pipeline_dataset(results.input_base, tags["data.fingerprint"], results.example_counts,
                                              results.schema_uri), context="training")

    def train_extras():  # what only the runner draws: the curves, the gradient-through-time plot
        mlflow.log_artifact(str(plots.training_curves(results.history, tmp / "training_curves.png")))
        if results.time_step_gradients or results.time_step_gradients_plot:
            log_time_step_gradients(results)

    def train_step():  # the Trainer wrote nothing live (tracking failed there, or its result came from the cache)
        sections = task_dict(cfg)  # the task's own sections (image: image, model, ...) and train
        own = [s for s, pipelines in APPLIES_TO.items() if "." not in s and pipelines == (cfg.name,)]
        mlflow.log_params({k: ("null" if v is None else v) for k, v in flatten(
            {s: sections[s] for s in [*own, "train"] if s in sections}).items()})
        for row in results.history:
            mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
        mlflow.log_metric("epochs_run", len(results.history))
        train_extras()

    def evaluate_step():
        mlflow.log_metrics({k.replace("/", "."): v for k, v in results.metrics.items()})
        mlflow.log_text(json.dumps(results.metrics, indent=1, sort_keys=True), "eval_metrics.json")
        mlflow.set_tag("blessed", str(results.blessed).lower())
        if results.blessing_reason:
            mlflow.set_tag("blessing_reason", results.blessing_reason[:5000])
        for png in sorted(Path(results.evaluation_uri).glob("*.png")):  # evaluators' own plots (sequence, detection)
            mlflow.log_artifact(str(png))
        if results.class_names:
            mlflow.log_text(plots.per_class_table(results.metrics, results.class_names), "per_class.csv")
            cm = plots.read_confusion_matrix(results.evaluation_uri, len(results.class_names))
            if cm is not None:
                mlflow.log_artifact(str(plots.confusion_matrix(cm, results.class_names, tmp / "confusion_matrix.png")))

    def push_step():
        mlflow.set_tags({"pushed_path": results.pushed_path, "serving.version": Path(results.pushed_path).name})

    def register():  # in the parent run, so a version's run carries the headline metrics
        info = registry.log_pushed_model(results.pushed_path,
                                         registry.input_example(results.pushed_path, results.input_base))
        version = registry.register_champion(info.model_uri, cfg.model_name,
                                             tags=registry.lineage_tags(results.lineage))
        mlflow.set_tag("registered_version", version)
        log.info("registered model %s version %s as %s", cfg.model_name, version, registry.CHAMPION)

    if results.example_counts:
        child("data", data_step)
    if results.history:
        live: List[Optional[str]] = [None]
        record("the train step lookup", lambda: live.__setitem__(0, existing_child("train")))
        # The Trainer logged its epochs live: add only the plots, never the epochs a second time.
        child("train", train_extras, live[0]) if live[0] else child("train", train_step)
    if results.evaluation_uri:
        child("evaluate", evaluate_step)
    if results.pushed_path:
        child("push", push_step)

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
