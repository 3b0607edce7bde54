"""The end-of-run summary: what a user needs to act on, in a few lines."""
from __future__ import annotations

from edgeflow.config import PipelineConfig
from edgeflow.pipelines.runner import RunOutcome


def summary_lines(cfg: PipelineConfig, outcome: RunOutcome) -> list:
    r = outcome.results
    lines = [f"\n== {cfg.name}: finished in {outcome.seconds:.0f}s (pipeline run {r.pipeline_run_id})"]
    if r.example_counts:
        lines.append("   examples: " + ", ".join(f"{k} {v}" for k, v in sorted(r.example_counts.items())))
    if r.history:
        metric = next((m for m in ("val_accuracy", "val_mae") if m in r.history[-1]), "val_loss")
        lines.append(f"   trained:  {len(r.history)} epochs, final {metric} "
                     f"{r.history[-1].get(metric, float('nan')):.4g} (validation hold-out)")
    if "accuracy" in r.metrics:
        lines.append(f"   eval accuracy: {r.metrics['accuracy']:.4f}  (bar: {cfg.eval.min_accuracy})")
    if "mae_ratio_to_best_baseline" in r.metrics:
        lines.append(f"   eval MAE: {r.metrics['mae']:.4f}  = {r.metrics['mae_ratio_to_best_baseline']:.3f} x the best "
                     f"baseline's {r.metrics['baseline.best_mae']:.4f}")
    if "baseline.shallow.accuracy" in r.metrics:
        lines.append(f"   shallow baseline accuracy: {r.metrics['baseline.shallow.accuracy']:.4f}")
    if "map50" in r.metrics:
        lines.append(f"   eval mAP@0.5: {r.metrics['map50']:.4f}  mAP@0.5:0.95: {r.metrics['map50_95']:.4f}  "
                     f"(bar: {cfg.detection.min_map50})")
    if r.baseline:
        lines.append(f"   shallow baseline accuracy: {r.baseline['baseline_accuracy']:.4f}  "
                     f"(CNN lift {r.baseline['lift']:+.4f}"
                     + (f", required {r.baseline['min_lift']:+.4f})" if r.baseline.get("min_lift") is not None else ")"))
    for name, report in r.diagnostics.items():
        if report.get("flagged"):
            lines.append(f"   diagnostics: {report['message']}")
    if r.blessed is not None:
        lines.append(f"   blessed:  {'yes' if r.blessed else 'no'}"
                     + (f" ({r.blessing_reason})" if r.blessing_reason else ""))
    lines.append(f"   pushed:   {r.pushed_path}" if r.pushed_path else "   pushed:   nothing (model not blessed)")
    if r.model_run_uri and cfg.train.tensorboard:
        lines.append(f"   TensorBoard: tensorboard --logdir {r.model_run_uri}/tensorboard")
    if outcome.mlflow_run_id:
        where = f"make ui  (or: edgeflow ui --output {cfg.output})" if cfg.tracking.uri is None else cfg.tracking.uri
        lines.append(f"   MLflow run {outcome.mlflow_run_id} in experiment '{cfg.experiment}'; see it with: {where}")
    return lines


def print_summary(cfg: PipelineConfig, outcome: RunOutcome) -> None:
    print("\n".join(summary_lines(cfg, outcome)), flush=True)
