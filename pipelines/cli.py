"""The ``edgeflow`` command: ``run`` a pipeline, open the MLflow ``ui``, ``serve`` pushed models."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import List, Optional

import edgeflow  # noqa: F401 - sets the environment before TensorFlow is imported
from edgeflow import EdgeflowError
from edgeflow.pipelines.config import PRESETS, load_config
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

    models = sub.add_parser("models", help="list a registered model's versions, metrics and champion")
    models.add_argument("name", nargs="?", default="image", help="registered model (default: image)")
    models.add_argument("--output", default="output", help="output folder of the embedded store")
    models.add_argument("--tracking-uri", help="MLflow tracking URI (default: the embedded store)")

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
    cfg = load_config("image", "default", args.config, args.overrides, {"output": args.output, "serving": serving})
    s = cfg.serving
    return serve_forever(ServerOptions(cfg.serving_root, s.host, s.grpc_port, s.rest_port, s.max_batch_size,
                                       s.batch_timeout_ms, s.poll_seconds, s.max_request_bytes))


def _run(args) -> int:
    if args.pipeline not in PIPELINES:  # before any work: nothing is started for a typo
        raise EdgeflowError(f"unknown pipeline {args.pipeline!r}; choose one of: {', '.join(PIPELINES)}")
    updates: dict = {}
    if args.output:
        updates["output"] = args.output
    if args.data:
        updates["data"] = {"path": args.data}
    if args.tracking_uri:
        updates["tracking"] = {"uri": args.tracking_uri}
    if args.no_tracking:
        updates.setdefault("tracking", {})["enabled"] = False
    cfg = load_config(args.pipeline, args.preset, args.config, args.overrides, updates)

    from edgeflow.pipelines.runner import run_pipeline
    from edgeflow.pipelines.summary import print_summary

    outcome = run_pipeline(cfg, args.beam_args)
    print_summary(cfg, outcome)
    return 0


def _models(args) -> int:
    import mlflow

    from edgeflow.pipelines.config import PipelineConfig
    from edgeflow.pipelines.tracking_registry import CHAMPION, list_versions

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or PipelineConfig(output=args.output).tracking_uri
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


def _ui(args) -> int:
    from edgeflow.pipelines.config import PipelineConfig

    cfg = PipelineConfig(output=args.output)
    db = cfg.output_dir / "mlflow.db"
    if not db.exists():
        raise EdgeflowError(f"no MLflow store at {db}; run a pipeline first (make run) or pass --output")
    print(f"MLflow UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)", flush=True)
    cmd = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "ui", "--backend-store-uri",
           cfg.tracking_uri, "--host", "127.0.0.1", "--port", str(args.port)]
    return subprocess.call(cmd)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "models": _models, "ui": _ui, "serve": _serve}[args.command](args)
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
