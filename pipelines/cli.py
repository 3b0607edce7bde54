"""The ``edgeflow`` command: ``run`` a pipeline, ``cv`` its model config, open the MLflow ``ui``."""
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

    cv = sub.add_parser("cv", help="K-fold cross-validation of a pipeline's model config")
    cv.add_argument("pipeline", help="which pipeline: image")
    cv.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    for flag, kw in (("--data", {}), ("--config", {}), ("--output", {}), ("--tracking-uri", {})):
        cv.add_argument(flag, **kw, help=f"as for run {flag}")
    cv.add_argument("--preset", default="default", choices=sorted(PRESETS), help="base config")
    cv.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config value (repeatable)")
    cv.add_argument("--no-tracking", action="store_true", help="run without MLflow")

    ui = sub.add_parser("ui", help="serve the MLflow UI of the embedded store on 127.0.0.1")
    ui.add_argument("--output", default="output", help="output folder whose store to show")
    ui.add_argument("--port", type=int, default=5000)
    return p


def _config_from_args(args):
    """The config of `run` and `cv`: preset, --config, --set, then the flags."""
    updates: dict = {}
    if args.output:
        updates["output"] = args.output
    if args.data:
        updates["data"] = {"path": args.data}
    if args.tracking_uri:
        updates["tracking"] = {"uri": args.tracking_uri}
    if args.no_tracking:
        updates.setdefault("tracking", {})["enabled"] = False
    return load_config(args.pipeline, args.preset, args.config, args.overrides, updates)


def _run(args) -> int:
    if args.pipeline not in PIPELINES:
        raise EdgeflowError(f"unknown pipeline {args.pipeline!r}; choose one of: {', '.join(PIPELINES)}")
    cfg = _config_from_args(args)

    from edgeflow.pipelines.runner import run_pipeline
    from edgeflow.pipelines.summary import print_summary

    outcome = run_pipeline(cfg, args.beam_args)
    print_summary(cfg, outcome)
    return 0


def _cv(args) -> int:
    from edgeflow.pipelines.cv import cross_validate
    from edgeflow.pipelines.logs import setup_logging

    cfg = _config_from_args(args)
    setup_logging(cfg.output_dir / "logs", f"{cfg.name}-cv")
    result = cross_validate(cfg, args.folds)
    folds = ", ".join(f"{f['accuracy']:.4f}" for f in result.folds)
    print(f"\n== {cfg.name}: {args.folds}-fold cross-validation\n"
          f"   accuracy {result.mean('accuracy'):.4f} +/- {result.std('accuracy'):.4f}  (folds: {folds})", flush=True)
    if result.parent_run_id:
        print(f"   MLflow parent run {result.parent_run_id} in experiment '{cfg.experiment}-cv'", flush=True)
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
        return {"run": _run, "cv": _cv, "ui": _ui}[args.command](args)
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
