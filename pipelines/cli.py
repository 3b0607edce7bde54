"""The ``edgeflow`` command: ``run`` a pipeline, ``schedule`` runs, list ``runs``, ``compile`` for
Kubeflow, list registered ``models``, open the MLflow ``ui``, ``serve`` pushed models, ``cv`` a model config."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import List, Optional

import edgeflow  # noqa: F401 - sets the environment before TensorFlow is imported
from edgeflow import EdgeflowError
from edgeflow.config import PRESETS, load_config
from edgeflow.pipelines.runner import PIPELINES



def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeflow", description="From raw data to a model on a device.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline end to end")
    run.add_argument("pipeline", help=f"which pipeline: {', '.join(PIPELINES)}")
    run.add_argument("--data", help="input data folder (default: the bundled data set)")
    run.add_argument("--config", help="YAML file with config values")
    run.add_argument("--preset", default="default", choices=sorted(PRESETS), help="base config")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override one config value, e.g. --set train.epochs=3 (repeatable)")
    run.add_argument("--output", help="output folder (default: ./output)")
    run.add_argument("--tracking-uri", help="MLflow tracking URI (default: embedded store under the output)")
    run.add_argument("--no-tracking", action="store_true", help="run without MLflow")
    run.add_argument("--beam-arg", dest="beam_args", action="append", default=[], help="pass to Beam")
    run.add_argument("--beam-runner", help="Beam runner: DirectRunner (default), DataflowRunner, FlinkRunner, ...")
    run.add_argument("--orchestrator", choices=("local", "beam"),
                     help="TFX runner: local (LocalDagRunner, default) or beam (BeamDagRunner); pipeline.orchestrator")

    sched = sub.add_parser("schedule", help="run pipelines on cron schedules until stopped (SIGTERM)")
    sched.add_argument("pipelines", nargs="*", help="pipelines to run on --cron")
    sched.add_argument("--cron", help="cron expression for the listed pipelines, e.g. '0 2 * * *'")
    sched.add_argument("--job", action="append", default=[], metavar="PIPELINE=CRON",
                       help="one pipeline with its own cron expression (repeatable)")
    sched.add_argument("--misfire", default="run_once", choices=("run_once", "skip"),
                       help="missed fire times: run once now (within --grace) or skip them")
    sched.add_argument("--grace", type=float, default=3600.0, help="seconds a missed run may be late (run_once)")
    sched.add_argument("--max-runs", type=int, help="stop after this many runs of each pipeline")
    sched.add_argument("--output", default="output", help="output folder of every run")
    sched.epilog = "Arguments after '--' go to each `edgeflow run`, e.g. -- --preset tiny --set data.pattern=..."

    runs = sub.add_parser("runs", help="run history: status, duration, span and outcome of each run")
    runs.add_argument("pipeline", nargs="?", default="image")
    runs.add_argument("--output", default="output")
    runs.add_argument("--tracking-uri", help="MLflow tracking URI (default: the embedded store)")
    runs.add_argument("--limit", type=int, default=20)

    comp = sub.add_parser("compile", help="compile a pipeline for another orchestrator")
    comp.add_argument("pipeline", help=f"which pipeline: {', '.join(PIPELINES)}")
    comp.add_argument("--target", default="kubeflow", choices=("kubeflow",))
    comp.add_argument("--data", help="input data folder")
    comp.add_argument("--config", help="YAML file with config values (kubeflow.image, kubeflow.schedule, ...)")
    comp.add_argument("--preset", default="default", choices=sorted(PRESETS))
    comp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    comp.add_argument("--output", default="output", help="where the spec goes: <output>/kubeflow/<pipeline>.json")
    comp.add_argument("--beam-arg", dest="beam_args", action="append", default=[])
    comp.add_argument("--beam-runner")

    models = sub.add_parser("models", help="list a registered model's versions, metrics and champion")
    models.add_argument("name", nargs="?", default="image", help="registered model (default: image)")
    models.add_argument("--output", default="output", help="output folder of the embedded store")
    models.add_argument("--tracking-uri", help="MLflow tracking URI (default: the embedded store)")

    cv = sub.add_parser("cv", help="K-fold cross-validation of a pipeline's model config")
    cv.add_argument("pipeline", help="which pipeline: image")
    cv.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    for flag in ("--data", "--config", "--output", "--tracking-uri"):
        cv.add_argument(flag, help=f"as for run {flag}")
    cv.add_argument("--preset", default="default", choices=sorted(PRESETS), help="base config")
    cv.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config value (repeatable)")
    cv.add_argument("--no-tracking", action="store_true", help="run without MLflow")

    predict = sub.add_parser("predict", help="classify images with a served model over TF Serving's gRPC API")
    predict.add_argument("inputs", nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    predict.add_argument("--server", default="127.0.0.1:8500", help="host:port of the gRPC API")
    predict.add_argument("--model", default="image", help="served model name")
    predict.add_argument("--signature", default="serving_default")
    predict.add_argument("--version", type=int, help="a model version (default: the newest)")
    predict.add_argument("--input-name", default="image_bytes", help="the signature's encoded-image input")

    ui = sub.add_parser("ui", help="serve the MLflow UI of the embedded store on 127.0.0.1")
    ui.add_argument("--output", default="output", help="output folder whose store to show")
    ui.add_argument("--port", type=int, default=5000)
    serve = sub.add_parser("serve", help="serve pushed models over TF Serving's gRPC and REST APIs")
    serve.add_argument("--output", default="output", help="output folder whose serving root to serve")
    serve.add_argument("--root", help="serving root (<root>/<model>/<version>/); default: <output>/serving")
    serve.add_argument("--config", help="YAML file with config values (the serving section applies)")
    serve.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set serving.max_batch_size=16")
    serve.add_argument("--port", type=int, help="gRPC port (serving.grpc_port, default 8500)")
    serve.add_argument("--rest-port", type=int, help="REST port (serving.rest_port, default 8501)")
    return p


def _serve(args) -> int:
    from edgeflow.serving.server import ServerOptions, serve_forever

    serving = {k: v for k, v in {"root": args.root, "grpc_port": args.port, "rest_port": args.rest_port}.items()
               if v is not None}
    # Loaded under a name that is no pipeline's, so a YAML file of any pipeline is accepted: only `serving` is read.
    cfg = load_config("serve", "default", args.config, args.overrides, {"output": args.output, "serving": serving})
    s = cfg.serving
    return serve_forever(ServerOptions(cfg.serving_root, s.host, s.grpc_port, s.rest_port, s.max_batch_size,
                                       s.batch_timeout_ms, s.poll_seconds, s.max_request_bytes,
                                       workers=s.workers, container_root=s.container_root,
                                       rest_max_connections=s.rest_max_connections, rest_timeout_s=s.rest_timeout_s))


def _flag_updates(args) -> dict:
    """Config updates from whichever of --output, --data, --tracking-uri (else MLFLOW_TRACKING_URI,
    read here once: mlflow rewrites it in-process) and --no-tracking a subcommand has."""
    updates: dict = {}
    if getattr(args, "output", None):
        updates["output"] = args.output
    if getattr(args, "data", None):
        updates["data"] = {"path": args.data}
    tracking: dict = {}
    uri = getattr(args, "tracking_uri", None) or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        tracking["uri"] = uri
    if getattr(args, "no_tracking", False):
        tracking["enabled"] = False
    if tracking:
        updates["tracking"] = tracking
    if getattr(args, "orchestrator", None):
        updates["pipeline"] = {"orchestrator": args.orchestrator}
    return updates


def _run(args) -> int:
    if args.pipeline not in PIPELINES:  # before any work: nothing is started for a typo
        raise EdgeflowError(f"unknown pipeline {args.pipeline!r}; choose one of: {', '.join(PIPELINES)}")
    cfg = load_config(args.pipeline, args.preset, args.config, args.overrides, _flag_updates(args))

    from edgeflow.pipelines.runner import run_pipeline
    from edgeflow.pipelines.summary import print_summary

    from edgeflow.pipelines.beam import beam_args

    outcome = run_pipeline(cfg, beam_args(args.beam_runner, args.beam_args))
    print_summary(cfg, outcome)
    return 0


def _cv(args) -> int:
    from edgeflow.pipelines.cv import cross_validate
    from edgeflow.pipelines.logs import setup_logging

    cfg = load_config(args.pipeline, args.preset, args.config, args.overrides, _flag_updates(args))
    setup_logging(cfg.output_dir / "logs", f"{cfg.name}-cv")
    result = cross_validate(cfg, args.folds)
    folds = ", ".join(f"{f['accuracy']:.4f}" for f in result.folds)
    print(f"\n== {cfg.name}: {args.folds}-fold cross-validation\n"
          f"   accuracy {result.mean('accuracy'):.4f} +/- {result.std('accuracy'):.4f}  (folds: {folds})", flush=True)
    if result.parent_run_id:
        print(f"   MLflow parent run {result.parent_run_id} in experiment '{cfg.experiment}-cv'", flush=True)
    return 0


def _schedule(args) -> int:
    from edgeflow.pipelines.history import reap_stale_runs
    from edgeflow.pipelines.logs import setup_logging
    from edgeflow.pipelines.scheduler import Job, Scheduler, ScheduleError

    jobs = [Job(p, args.cron) for p in args.pipelines if args.cron] + [
        Job(*j.split("=", 1)) for j in args.job if "=" in j]
    if not jobs or (args.pipelines and not args.cron) or any("=" not in j for j in args.job):
        raise ScheduleError("give pipelines with --cron (edgeflow schedule image --cron '0 2 * * *') "
                            "or --job PIPELINE=CRON")
    for job in jobs:
        if job.pipeline not in PIPELINES:
            raise EdgeflowError(f"unknown pipeline {job.pipeline!r}; choose one of: {', '.join(PIPELINES)}")
    run_args = args.run_args

    def reap():  # runs left RUNNING by a killed process are marked FAILED (under the scheduler lock)
        for job in jobs:
            reap_stale_runs(_run_config(job.pipeline, args.output, run_args))

    setup_logging(None)
    Scheduler(jobs, args.output, run_args, args.misfire, args.grace, args.max_runs, reap).run()
    return 0


def _run_config(pipeline: str, output: str, run_args):
    """The config an `edgeflow run <pipeline> --output <output> <run_args>` would load."""
    a = _parser().parse_args(["run", pipeline, "--output", output, *run_args])
    return load_config(pipeline, a.preset, a.config, a.overrides, _flag_updates(a))


def _runs(args) -> int:
    from edgeflow.pipelines.history import format_runs, list_runs

    records = list_runs(load_config(args.pipeline, updates=_flag_updates(args)), args.limit)
    print("\n".join(format_runs(records)) if records else f"no runs of {args.pipeline} in {args.output}")
    return 0


def _compile(args) -> int:

    from edgeflow.pipelines.beam import beam_args
    from edgeflow.pipelines.kubeflow import compile_kubeflow
    from edgeflow.pipelines.logs import setup_logging

    cfg = load_config(args.pipeline, args.preset, args.config, args.overrides, _flag_updates(args))
    setup_logging(None)
    spec = compile_kubeflow(cfg, cfg.output_dir / "kubeflow", beam_args(args.beam_runner, args.beam_args))
    print(f"pipeline spec: {spec}")
    return 0


def _stop_on_sigterm(signum, frame):  # a SIGTERM run ends like Ctrl-C: MLflow marks it FAILED
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the failure path short
    raise KeyboardInterrupt("stopped by SIGTERM")


def _models(args) -> int:
    import mlflow

    from edgeflow.pipelines.tracking.registry import CHAMPION, list_versions

    uri = load_config(updates=_flag_updates(args)).tracking_uri
    client = mlflow.tracking.MlflowClient(uri)
    try:
        rows = list_versions(args.name, client)
    except mlflow.exceptions.MlflowException:
        raise EdgeflowError(f"no registered model {args.name!r} in {uri}; a blessed pipeline run registers one") from None
    print(f"{'version':>7}  {'champion':8}  {'accuracy':>8}  run")
    for r in rows:
        acc = r["metrics"].get("eval.accuracy")
        print(f"{r['version']:>7}  {'yes' if CHAMPION in r['aliases'] else '':8}  "
              f"{'' if acc is None else f'{acc:.4f}':>8}  {r['run_id']}")
    return 0


def _predict(args) -> int:
    from edgeflow.serving.client import PredictionClient, classify_images

    with PredictionClient(args.server) as client:
        rows = classify_images(client, args.model, args.inputs, args.input_name, args.signature, args.version)
    for r in rows:
        score = "" if r["score"] is None else f"  p={r['score']:.3f}"
        print(f"{r['path']}: {r['class_name']}{score}")
    return 0


def _ui(args) -> int:
    from edgeflow.config import PipelineConfig

    cfg = PipelineConfig(output=args.output)
    db = cfg.output_dir / "mlflow.db"
    if not db.exists():
        raise EdgeflowError(f"no MLflow store at {db}; run a pipeline first (make run) or pass --output")
    from edgeflow.pipelines.children import start_group, stop_on_signals, wait_group

    print(f"MLflow UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)", flush=True)
    cmd = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "ui", "--backend-store-uri",
           cfg.tracking_uri, "--host", "127.0.0.1", "--port", str(args.port)]
    stop = stop_on_signals()  # SIGTERM/SIGINT stop mlflow ui and its server and job-runner processes
    code = wait_group(start_group(cmd), stop)
    return 0 if stop.is_set() else code


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    run_args = argv[argv.index("--") + 1:] if "--" in argv else []  # schedule: for each `edgeflow run`
    args = _parser().parse_args(argv[:len(argv) - len(run_args) - (1 if "--" in argv else 0)])
    args.run_args = run_args
    try:
        if args.command == "run":
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
        commands = {"run": _run, "cv": _cv, "models": _models, "ui": _ui, "serve": _serve, "predict": _predict,
                    "schedule": _schedule, "runs": _runs, "compile": _compile}
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("edgeflow: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one sentence for the user, the traceback in the log
        from edgeflow.pipelines.runner import user_error

        known = user_error(err)
        if known is None:
            raise
        import logging
        logging.getLogger().debug("edgeflow failed", exc_info=True)
        print(f"edgeflow: error: {known}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
