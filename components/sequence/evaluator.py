"""SequenceEvaluator: scores the trained RNN and the baselines on the same eval windows; blesses or not.

The model is called exactly as a client calls it (its ``serving_default`` signature on raw
windows), so the score covers the normalization inside the graph. Blessing rule:

* forecast: MAE < ``max_baseline_ratio`` x the best MAE of the configured baselines
  (``sequence.baselines``: persistence, seasonal-naive, seasonal-drift, Holt-Winters fitted on
  the train windows' series and rolled over the eval windows, see ``baselines.py``);
* classify: accuracy > the shallow baseline's accuracy;
* and, when an earlier model was blessed (``baseline_model``, from TFX's LatestBlessedModelStrategy
  resolver), the candidate is no worse than it on the same eval windows: MAE at most
  ``max_regression`` x 100 % above its MAE (forecast), accuracy at most ``max_regression`` below (classify).

Memory: the windows scored are a seeded sample of at most ``max_examples`` eval windows
(``sequence.evaluator_max_examples``, seed ``train.seed``; 0: all), and classify's shallow baseline
fits on at most as many train sequences; the log says how many of how many. Holt-Winters reads the
series rebuilt from every window of both splits, batch by batch (one float per row, not the windows).

Writes ``metrics.json`` (flat, read back by ``pipelines.results``) and, for forecasts,
``horizon_errors.png`` (MAE and RMSE per horizon step) into the ModelEvaluation artifact.
"""

import logging
import os
from typing import Dict, Tuple

import numpy as np
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation
from tfx.utils import path_utils

from edgeflow.components.sequence import baselines as bl
from edgeflow.components.shared.blessing import Headline, Verdict, judge, publish
from edgeflow.models.features import LABEL_KEY, TARGET_KEY, TIME_KEY, WINDOW_KEY
from edgeflow.models.splits import iter_batches, sample_split, split_spec

log = logging.getLogger("edgeflow")


def read_windows(source, keys, max_examples: int, seed: int, split: str) -> Dict[str, np.ndarray]:
    """A seeded sample of at most `max_examples` (0: all) examples of `source`; logs how many of how many."""
    rows, seen = sample_split(source, split_spec(source, keys), max_examples, seed)
    kept = len(next(iter(rows.values())))
    log.info("  SequenceEvaluator: %d of %d %s windows (sequence.evaluator_max_examples=%d, seed %d)",
             kept, seen, split, max_examples, seed)
    return rows


def series_from_splits(sources, window: int, features: int, target_index: int) -> Tuple[np.ndarray, int]:
    """(the target column (T,) rebuilt from every example of the splits, NaN where none holds a row; the
    end row of the first split's targets), streamed batch by batch: memory holds the series, not the windows."""
    series, ends = np.zeros(0), []
    keys = (WINDOW_KEY, TARGET_KEY, TIME_KEY)
    for source in sources:
        end = 0
        for batch in iter_batches(source, split_spec(source, keys)):
            rows, horizon = batch[TIME_KEY][:, 0], batch[TARGET_KEY].shape[1]
            part = bl.series_from_examples(batch[WINDOW_KEY].reshape(-1, window, features), batch[TARGET_KEY],
                                           rows, target_index)  # (max row + H,)
            if len(part) > len(series):
                series = np.concatenate([series, np.full(len(part) - len(series), np.nan)])
            seen = ~np.isnan(part)
            series[:len(part)][seen] = part[seen]
            end = max(end, int(rows.max()) + horizon)
        ends.append(end)
    return series, ends[0]


def baseline_forecasts(examples, names, eval_split: Dict[str, np.ndarray], target_index: int, horizon: int,
                       season: int, window: int, features: int) -> Dict[str, np.ndarray]:
    """{name: (N, H)} on the windows of `eval_split` (the eval features, already read); Holt-Winters reads
    the series rebuilt from both splits' examples, streamed (every window, not a sample)."""
    windows = eval_split[WINDOW_KEY].astype(np.float32).reshape(-1, window, features)  # (N, W, F)
    if "holt_winters" not in names:
        return bl.forecast_baselines(names, windows, target_index, horizon, season)
    uris = [artifact_utils.get_split_uri([examples], split) for split in ("train", "eval")]
    series, train_end = series_from_splits(uris, window, features, target_index)  # (T,), NaN in the train/eval gap
    return bl.forecast_baselines(names, windows, target_index, horizon, season, series, train_end,
                                 eval_split[TIME_KEY][:, 0])


def forecast_report(y, pred, windows, target_index: int, season: int,
                    baselines: Dict[str, np.ndarray] = None) -> Dict[str, float]:
    """Flat metrics of the model's forecasts `pred` and each baseline's (default: persistence, seasonal-naive)."""
    horizon = y.shape[1]
    model = bl.forecast_errors(y, pred)
    if baselines is None:
        baselines = bl.forecast_baselines(("persistence", "seasonal_naive"), windows, target_index, horizon, season)
    base = {k: bl.forecast_errors(y, v) for k, v in baselines.items()}
    out = {"mae": model["mae"], "rmse": model["rmse"], "example_count": float(len(y))}
    for name, errs in [("", model)] + [(f"baseline.{k}.", v) for k, v in base.items()]:
        out[f"{name}mae"], out[f"{name}rmse"] = errs["mae"], errs["rmse"]
        for h, (mae, rmse) in enumerate(zip(errs["mae_per_step"], errs["rmse_per_step"]), 1):
            out[f"{name}mae/step_{h}"], out[f"{name}rmse/step_{h}"] = mae, rmse
    out["baseline.best_mae"] = min(v["mae"] for v in base.values())
    out["mae_ratio_to_best_baseline"] = model["mae"] / max(out["baseline.best_mae"], 1e-12)
    return out


def decide_blessing(task: str, metrics: Dict[str, float], max_baseline_ratio: float) -> Verdict:
    """The sequence bar: the RNN beats the baselines (``sequence.max_baseline_ratio`` for forecasts)."""
    if task == "forecast":
        ratio = metrics["mae_ratio_to_best_baseline"]
        each = ", ".join(f"{k.split('.')[1]} {v:.4f}" for k, v in metrics.items()
                         if k.startswith("baseline.") and k.endswith(".mae") and k.count(".") == 2)
        return Verdict(ratio < max_baseline_ratio, f"MAE {metrics['mae']:.4f} is {ratio:.3f} x the best baseline's "
                                                   f"{metrics['baseline.best_mae']:.4f} "
                                                   f"(bar: < {max_baseline_ratio:g}, sequence.max_baseline_ratio; "
                                                   f"baseline MAEs: {each})")
    acc, base = metrics["accuracy"], metrics["baseline.shallow.accuracy"]
    return Verdict(acc > base, f"accuracy {acc:.4f} vs the shallow baseline's {base:.4f} (bar: above it)")


HEADLINES = {"forecast": Headline("mae", "MAE", higher_is_better=False, relative=True),
             "classify": Headline("accuracy", "accuracy")}


def plot_horizon_errors(metrics: Dict[str, float], horizon: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, horizon + 1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("mae", "rmse")):
        names = [k.split(".")[1] for k in metrics if k.startswith("baseline.") and k.endswith(".mae/step_1")]
        for prefix, label in [("", "RNN")] + [(f"baseline.{n}.", n.replace("_", " ")) for n in names]:
            ax.plot(steps, [metrics[f"{prefix}{metric}/step_{h}"] for h in steps], marker="o", label=label)
        ax.set(xlabel="horizon step", ylabel=metric.upper(), title=f"{metric.upper()} per horizon step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def predict_windows(model_dir: str, task: str, windows: np.ndarray) -> np.ndarray:
    """The SavedModel's ``serving_default`` on raw windows (N, W, F): forecasts (N, H) or probabilities (N, C)."""
    import tensorflow as tf

    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    return serve(window=tf.constant(windows))["forecast" if task == "forecast" else "probabilities"].numpy()


def headline(task: str, y: np.ndarray, outputs: np.ndarray) -> float:
    """The metric compared with the last blessed model: MAE (forecast) or accuracy (classify)."""
    if task == "forecast":
        return bl.forecast_errors(y, outputs)["mae"]
    return float((outputs.argmax(axis=1) == y).mean())


@tfx.dsl.components.component
def SequenceEvaluator(
    examples: tfx.dsl.components.InputArtifact[Examples],
    model: tfx.dsl.components.InputArtifact[Model],
    evaluation: tfx.dsl.components.OutputArtifact[ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[ModelBlessing],
    task: tfx.dsl.components.Parameter[str],
    window: tfx.dsl.components.Parameter[int],
    features: tfx.dsl.components.Parameter[int],
    target_index: tfx.dsl.components.Parameter[int] = 0,
    season: tfx.dsl.components.Parameter[int] = 1,
    max_baseline_ratio: tfx.dsl.components.Parameter[float] = 1.0,
    max_regression: tfx.dsl.components.Parameter[float] = 0.0,
    baselines: tfx.dsl.components.Parameter[str] = "persistence,seasonal_naive,seasonal_drift,holt_winters",
    baseline_model: tfx.dsl.components.InputArtifact[Model] = None,
    max_examples: tfx.dsl.components.Parameter[int] = 20000,
    seed: tfx.dsl.components.Parameter[int] = 42,
) -> None:
    keys = (WINDOW_KEY, TARGET_KEY, TIME_KEY) if task == "forecast" else (WINDOW_KEY, LABEL_KEY)
    split = {name: artifact_utils.get_split_uri([examples], name) for name in ("train", "eval")}
    data = read_windows(split["eval"], keys, max_examples, seed, "eval")
    windows = data[WINDOW_KEY].astype(np.float32).reshape(-1, window, features)  # (N, W, F)
    outputs = predict_windows(path_utils.serving_model_path(model.uri), task, windows)
    if task == "forecast":
        y = data[TARGET_KEY]
        names = [n.strip() for n in baselines.split(",") if n.strip()]
        base = baseline_forecasts(examples, names, data, target_index, y.shape[1], season, window, features)
        metrics = forecast_report(y, outputs, windows, target_index, season, base)
        plot_horizon_errors(metrics, outputs.shape[1], os.path.join(evaluation.uri, "horizon_errors.png"))
    else:
        train = read_windows(split["train"], keys, max_examples, seed, "train")
        y, num_classes = data[LABEL_KEY][:, 0], int(max(data[LABEL_KEY].max(), train[LABEL_KEY].max())) + 1
        base = bl.shallow_classifier(train[WINDOW_KEY].astype(np.float32).reshape(-1, window, features),
                                     train[LABEL_KEY][:, 0], windows)
        metrics = bl.classification_metrics(y, outputs, num_classes)
        metrics["baseline.shallow.accuracy"] = bl.classification_metrics(y, base, num_classes)["accuracy"]
        metrics["example_count"] = float(len(y))
    last = None
    if baseline_model is not None:  # the last blessed model, scored on the same eval windows
        last = headline(task, y, predict_windows(path_utils.serving_model_path(baseline_model.uri), task, windows))
    verdict = judge(metrics, decide_blessing(task, metrics, max_baseline_ratio), HEADLINES[task], last,
                    max_regression)
    log.info("  %s: %s", "blessed" if verdict.blessed else "NOT blessed", verdict.reason)
    publish(evaluation, blessing, model, metrics, verdict)
