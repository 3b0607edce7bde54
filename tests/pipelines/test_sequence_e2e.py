"""The sequence pipeline end to end, one small run per task: blessed over its baselines, pushed, served."""
import edgeflow  # noqa: F401

import os

import numpy as np
import pytest

from edgeflow.config import ConfigError, load_config


def run(out, task: str, *overrides: str):
    from edgeflow.pipelines.runner import run_pipeline

    cfg = load_config("sequence", "tiny", overrides=[f"sequence.task={task}", "train.epochs=4", *overrides],
                      updates={"output": str(out)})
    return cfg, run_pipeline(cfg)


# The tiny forecaster is gated by the naive baselines only: these tests are about the pipeline's plumbing;
# beating Holt-Winters and the seasonal-plus-drift rule (the default set) is the forecaster's own work (issue 20).
NAIVE_BASELINES = "sequence.baselines=persistence,seasonal_naive"


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    """A first tiny forecast run (blessed: there is no earlier model) and its output folder."""
    return run(tmp_path_factory.mktemp("sequence-forecast"), "forecast", "sequence.limit=900", NAIVE_BASELINES)


@pytest.mark.e2e
@pytest.mark.slow
def test_forecast_run_beats_the_baselines_and_serves_raw_windows(forecast_run):
    import tensorflow as tf

    cfg, outcome = forecast_run
    r = outcome.results
    assert r.metrics["mae"] < r.metrics["baseline.persistence.mae"]
    assert r.metrics["mae"] < r.metrics["baseline.seasonal_naive.mae"]
    assert r.blessed and r.pushed_path
    assert os.path.exists(os.path.join(r.evaluation_uri, "horizon_errors.png"))
    # the training skeleton's diagnostics reach MLflow for the RNN too; an LSTM has no ReLU units to die
    import mlflow

    assert {"gradient_health", "dead_units", "overfitting"} <= set(r.diagnostics)
    assert not r.diagnostics["dead_units"]["applies"]
    tags = mlflow.MlflowClient(cfg.tracking_uri).get_run(outcome.mlflow_run_id).data.tags
    assert "does not apply" in tags["diagnostics.dead_units"]
    # the pushed model takes a raw window (deg F) and answers in deg F
    csv = np.loadtxt(cfg.output_dir / "data" / "seattle-temps-900.csv", delimiter=",", skiprows=1, usecols=1)
    window = csv[-48 - 3:-3].astype(np.float32).reshape(1, 48, 1)
    serve = tf.saved_model.load(r.pushed_path).signatures["serving_default"]
    forecast = serve(window=tf.constant(window))["forecast"].numpy()
    assert forecast.shape == (1, 3)
    assert np.abs(forecast - csv[-3:]).max() < 3.0  # a few hours ahead, within 3 deg F
    check_edge_export(cfg, window, forecast)


# Largest |forecast difference| from the Keras model allowed per variant, in the target's units (deg F).
FORECAST_TOLERANCE = {"float32": 1e-3, "int8": 10.0}


def check_edge_export(cfg, window, pushed_forecast):
    """EdgeExport's .tflite takes the same raw window as the pushed model and answers in deg F."""
    import json

    from edgeflow.edge.runtime import EdgeModel

    folder = sorted(cfg.pipeline_root.glob("EdgeExport/edge_models/*/report.json"))[-1].parent
    report = json.loads((folder / "report.json").read_text())
    assert report["task"] == "forecast" and report["metric"] == "mae"
    for name, row in report["variants"].items():
        assert "error" not in row, row
        assert row["max_abs_output_diff"] <= FORECAST_TOLERANCE[name]
    assert report["variants"]["float32"]["degradation"] < 0.01  # relative MAE increase
    info = json.loads((folder / "float32.json").read_text())
    assert info["task"] == "forecast" and info["input"]["shape"] == [1, 48, 1]
    assert info["forecast"] == {"window": 48, "horizon": 3, "features": ["temp"], "target": "temp"}
    edge_forecast = EdgeModel(folder / "float32.tflite").run(window)
    np.testing.assert_allclose(edge_forecast, pushed_forecast, atol=1e-3)


@pytest.mark.e2e
@pytest.mark.slow
def test_classify_run_beats_the_shallow_baseline_and_serves_a_digit(tmp_path_factory):
    import tensorflow as tf
    from sklearn.datasets import load_digits

    cfg, outcome = run(tmp_path_factory.mktemp("sequence-classify"), "classify", "sequence.limit=600",
                       "export.enabled=false")
    r = outcome.results
    assert r.metrics["accuracy"] > r.metrics["baseline.shallow.accuracy"]
    assert r.blessed and r.pushed_path
    digits = load_digits()
    rows = digits.images[1700:1750].astype(np.float32)  # (50, 8 steps, 8 features), never trained on
    out = tf.saved_model.load(r.pushed_path).signatures["serving_default"](window=tf.constant(rows))
    assert out["probabilities"].shape == (50, 10)
    assert (out["class_id"].numpy() == digits.target[1700:1750]).mean() > 0.6
    assert out["class_name"].numpy()[0].decode() == str(out["class_id"].numpy()[0])


@pytest.mark.e2e
@pytest.mark.slow
def test_a_worse_second_model_is_not_blessed_and_mlflow_says_why(forecast_run, tmp_path):
    """The LatestBlessedModel resolver hands the first run's model to the evaluator, which scores it on the
    same eval windows; a barely trained candidate (one epoch at a tiny learning rate, no anchor) loses."""
    import mlflow

    first_cfg, first = forecast_run
    cfg, outcome = run(first_cfg.output_dir, "forecast", "sequence.limit=900", NAIVE_BASELINES, "train.epochs=1",
                       "train.learning_rate=0.000001", "sequence.anchor=none", "export.enabled=false")
    r = outcome.results
    assert first.results.blessed and not r.blessed and r.pushed_path is None
    assert r.metrics["last_blessed.mae"] == pytest.approx(first.results.metrics["mae"], rel=1e-4)
    assert r.metrics["mae"] > r.metrics["last_blessed.mae"]
    assert "vs the last blessed model's" in r.blessing_reason and "(worse;" in r.blessing_reason
    tags = mlflow.MlflowClient(cfg.tracking_uri).get_run(outcome.mlflow_run_id).data.tags
    assert tags["blessed"] == "false" and tags["blessing_reason"] == r.blessing_reason
    versions = sorted(p.name for p in (cfg.serving_root / cfg.model_name).iterdir())
    assert versions == [os.path.basename(first.results.pushed_path)]  # the first model still serves alone
    check_only_sequence_config_is_logged(cfg, outcome.mlflow_run_id, tmp_path)


def check_only_sequence_config_is_logged(cfg, run_id: str, tmp_path):
    """The parent run's params and config.yaml, and every child run's params, hold no other task's keys."""
    import mlflow
    import yaml

    client = mlflow.MlflowClient(cfg.tracking_uri)
    parent = client.get_run(run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    assert {c.data.tags["edgeflow.step"] for c in children} >= {"train", "evaluate"}
    foreign = ("detection.", "model.", "image.", "baseline.", "tuning.", "eval.min_accuracy")
    for run_ in [parent, *children]:
        assert not [k for k in run_.data.params if k.startswith(foreign)], run_.data.tags.get("edgeflow.step")
    assert parent.data.params["sequence.task"] == "forecast" and "eval.max_regression" in parent.data.params
    logged = yaml.safe_load(open(client.download_artifacts(run_id, "config.yaml", str(tmp_path))))
    assert "sequence" in logged and not {"detection", "model", "image", "baseline", "tuning"} & set(logged)


def test_bad_sequence_config_names_the_field():
    with pytest.raises(ConfigError, match=r"sequence.season must lie between horizon=6 and window=48, got 100"):
        load_config("sequence", overrides=["sequence.season=100"])
    with pytest.raises(ConfigError, match=r"sequence.cell must be one of lstm, gru, simple_rnn"):
        load_config("sequence", overrides=["sequence.cell=transformer"])


@pytest.mark.e2e
@pytest.mark.slow
def test_a_run_on_new_data_is_not_compared_with_the_old_folders_model(forecast_run, tmp_path):
    """Issue 21: a generated CSV with another target, run in the folder where the Seattle model was blessed,
    is blessed on its own bars; the Seattle model is not scored on the new data as "the last blessed model"."""
    from edgeflow.components.shared.blessing import NO_BASELINE

    first_cfg, first = forecast_run
    # another series (a "load" column: the Seattle shape rescaled and moved, so the tiny RNN can beat the
    # naive baselines and is blessed) in another file
    seattle = (first_cfg.output_dir / "data" / "seattle-temps-900.csv").read_text().splitlines()[1:]
    csv = tmp_path / "load.csv"
    csv.write_text("date,load\n" + "".join(f"{d},{3 * float(v) - 40:.1f}\n" for d, v in (r.split(",") for r in seattle)))
    cfg, outcome = run(first_cfg.output_dir, "forecast", f"data.path={csv}", NAIVE_BASELINES, "export.enabled=false")
    r = outcome.results
    assert first.results.blessed and r.blessed
    assert "last_blessed.mae" not in r.metrics  # the Seattle model was never scored on the load series
    assert NO_BASELINE in r.blessing_reason and "vs the last blessed model's" not in r.blessing_reason
    # the registry keeps each version's data lineage
    import mlflow

    client = mlflow.MlflowClient(cfg.tracking_uri)
    version = client.get_run(outcome.mlflow_run_id).data.tags["registered_version"]
    tags = client.get_model_version(cfg.model_name, version).tags
    assert tags["lineage.data_source"] == str(csv.resolve()) and tags["lineage.labels"] == "target=load,horizon=3"
    assert tags["lineage.pipeline"] == "sequence" and len(tags["lineage.data_fingerprint"]) == 16
