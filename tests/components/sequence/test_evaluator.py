"""SequenceEvaluator on the bundled data: the same numbers and blessing as reading whole splits; a bounded sample."""
import json
import logging
import os

import numpy as np
import pytest

from edgeflow.components.sequence import baselines as bl
from edgeflow.components.sequence.evaluator import (HEADLINES, SequenceEvaluator, baseline_forecasts,
                                                    decide_blessing, forecast_report, predict_windows, read_windows)
from edgeflow.components.shared.blessing import judge
from edgeflow.models.features import LABEL_KEY, TARGET_KEY, TIME_KEY, WINDOW_KEY
from edgeflow.models.splits import read_all_features

FORECAST = {"task": "forecast", "time_column": None, "target": None, "fill": "fail", "window": 48, "horizon": 6,
            "eval_fraction": 0.2}
CLASSIFY = {"task": "classify", "window": 8, "eval_fraction": 0.2}
NAMES = "persistence,seasonal_naive,seasonal_drift,holt_winters"


def write_examples(root, csv, seq):
    """An Examples artifact with the ExampleGen's windows of `csv` (train, eval), one GZIP file per split."""
    import tensorflow as tf
    from tfx.types import artifact_utils, standard_artifacts

    from edgeflow.components.sequence.data import read_csv
    from edgeflow.components.sequence.example_gen import stream_windows, window_rows

    if seq["task"] == "forecast":
        pairs = stream_windows(str(csv), seq)
    else:
        header, rows = read_csv(str(csv))
        pairs = window_rows([cells for _, cells in rows], header, seq)
    writers = {}
    for split in ("train", "eval"):
        os.makedirs(root / f"Split-{split}")
        writers[split] = tf.io.TFRecordWriter(str(root / f"Split-{split}" / "data.gz"), "GZIP")
    for split, record in pairs:
        writers[split].write(record)
    for w in writers.values():
        w.close()
    examples = standard_artifacts.Examples()
    examples.uri = str(root)
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return examples


def save_model(folder, task: str):
    """A SavedModel with the pushed model's ``serving_default``: half persistence, half seasonal-naive
    (forecast), or probabilities from the sequence's mean brightness (classify)."""
    import tensorflow as tf
    from tfx.types import standard_artifacts

    window, features = (48, 1) if task == "forecast" else (8, 8)

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, window, features], tf.float32, name="window")])
        def serve(self, w):
            if task == "forecast":
                return {"forecast": 0.5 * w[:, -1:, 0] + 0.5 * w[:, 24:30, 0]}
            mean = tf.reduce_mean(w, axis=[1, 2])[:, None]  # (B, 1)
            return {"probabilities": tf.nn.softmax(-tf.abs(mean - tf.linspace(2.0, 8.0, 10)[None]))}

    model = standard_artifacts.Model()
    model.uri = str(folder)
    m = Model()
    tf.saved_model.save(m, str(folder / "Format-Serving"), signatures={"serving_default": m.serve})
    return model


def evaluate(tmp_path, examples, model, task, **kw):
    from tfx.types import standard_artifacts

    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    os.makedirs(evaluation.uri)  # TFX makes an output artifact's folder before the component runs
    window, features = (48, 1) if task == "forecast" else (8, 8)
    SequenceEvaluator.test_call(examples=examples, model=model, evaluation=evaluation, blessing=blessing, task=task,
                                window=window, features=features, season=24, baselines=NAMES if task == "forecast"
                                else ",".join(bl.FORECAST_BASELINES), **kw)
    metrics = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    return metrics, blessing.get_string_custom_property("reason")


def whole_split_forecast(examples, model):
    """The evaluator's numbers as they were computed before: both splits read whole (read_all_features)."""
    from tfx.types import artifact_utils

    eval_, train = (read_all_features(artifact_utils.get_split_uri([examples], s)) for s in ("eval", "train"))
    windows = eval_[WINDOW_KEY].astype(np.float32).reshape(-1, 48, 1)
    outputs = predict_windows(os.path.join(model.uri, "Format-Serving"), "forecast", windows)
    stacked = {k: np.concatenate([train[k], eval_[k]]) for k in (WINDOW_KEY, TARGET_KEY, TIME_KEY)}
    series = bl.series_from_examples(stacked[WINDOW_KEY].reshape(-1, 48, 1), stacked[TARGET_KEY],
                                     stacked[TIME_KEY][:, 0], 0)
    base = bl.forecast_baselines(NAMES.split(","), windows, 0, 6, 24, series, int(train[TIME_KEY].max()) + 6,
                                 eval_[TIME_KEY][:, 0])
    return forecast_report(eval_[TARGET_KEY], outputs, windows, 0, 24, base)


@pytest.fixture(scope="module")
def bundled_forecast(tmp_path_factory):
    from edgeflow.pipelines.bundled.series import write_seattle_temps_csv

    root = tmp_path_factory.mktemp("sequence-evaluator")
    csv = write_seattle_temps_csv(root / "data")  # the bundled year, 8,759 hourly rows
    return write_examples(root / "examples", csv, FORECAST), save_model(root / "model", "forecast")


def test_forecast_numbers_and_blessing_equal_the_whole_split_ones_on_the_bundled_series(tmp_path, bundled_forecast):
    examples, model = bundled_forecast
    metrics, reason = evaluate(tmp_path, examples, model, "forecast")
    before = whole_split_forecast(examples, model)
    before["example_count"] = float(before["example_count"])
    assert metrics == before  # every number equal, not close
    assert metrics["example_count"] > 1500  # the whole eval split: 20,000 by default is above it
    verdict = judge(before, decide_blessing("forecast", before, 1.0), HEADLINES["forecast"], None, 0.0)
    assert reason == verdict.reason and "holt_winters" in reason


def test_a_bounded_sample_is_logged_and_holt_winters_still_reads_the_whole_series(tmp_path, bundled_forecast, caplog):
    from tfx.types import artifact_utils

    examples, model = bundled_forecast
    with caplog.at_level(logging.INFO, logger="edgeflow"):
        metrics, _ = evaluate(tmp_path, examples, model, "forecast", max_examples=300, seed=7)
    seen = len(read_all_features(artifact_utils.get_split_uri([examples], "eval"))[TIME_KEY])
    assert f"300 of {seen} eval windows (sequence.evaluator_max_examples=300, seed 7)" in caplog.text
    assert metrics["example_count"] == 300.0
    keys = (WINDOW_KEY, TARGET_KEY, TIME_KEY)
    uri = artifact_utils.get_split_uri([examples], "eval")
    sample, again = read_windows(uri, keys, 300, 7, "eval"), read_windows(uri, keys, 300, 7, "eval")
    np.testing.assert_array_equal(sample[TIME_KEY], again[TIME_KEY])  # the seed fixes the sample
    assert len(np.unique(sample[TIME_KEY])) == 300
    # each sampled window's Holt-Winters forecast is the one it gets among all windows (the series is whole)
    full = read_windows(uri, keys, 0, 7, "eval")
    names = NAMES.split(",")
    part, whole = (baseline_forecasts(examples, names, d, 0, 6, 24, 48, 1)["holt_winters"] for d in (sample, full))
    row = {int(t): i for i, t in enumerate(full[TIME_KEY][:, 0])}
    np.testing.assert_array_equal(part, whole[[row[int(t)] for t in sample[TIME_KEY][:, 0]]])


def test_classify_numbers_and_blessing_equal_the_whole_split_ones_on_the_bundled_digits(tmp_path):
    from tfx.types import artifact_utils

    from edgeflow.pipelines.bundled.series import write_digit_sequences_csv

    csv = write_digit_sequences_csv(tmp_path / "data")
    examples = write_examples(tmp_path / "examples", csv, CLASSIFY)
    model = save_model(tmp_path / "model", "classify")
    metrics, reason = evaluate(tmp_path, examples, model, "classify")
    eval_, train = (read_all_features(artifact_utils.get_split_uri([examples], s)) for s in ("eval", "train"))
    windows = eval_[WINDOW_KEY].astype(np.float32).reshape(-1, 8, 8)
    y = eval_[LABEL_KEY][:, 0]
    before = bl.classification_metrics(y, predict_windows(os.path.join(model.uri, "Format-Serving"), "classify",
                                                          windows), 10)
    base = bl.shallow_classifier(train[WINDOW_KEY].astype(np.float32).reshape(-1, 8, 8), train[LABEL_KEY][:, 0],
                                 windows)
    before["baseline.shallow.accuracy"] = bl.classification_metrics(y, base, 10)["accuracy"]
    before["example_count"] = float(len(y))
    assert metrics == before and len(y) > 300
    assert reason == judge(before, decide_blessing("classify", before, 1.0), HEADLINES["classify"], None, 0.0).reason
