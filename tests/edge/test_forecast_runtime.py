"""Forecasting on the device runtime: a raw-window LSTM forecaster, float32 and int8, read from CSV.

Tolerances: float32 agrees with Keras within 1e-3 (target units); full-integer int8 within 0.1 of
the target's standard deviation (a few quantization steps of the input and output).
"""
import json

import numpy as np
import pytest

from edgeflow.edge.forecast import forecast, read_window
from edgeflow.edge.runtime import EdgeModel, EdgeRuntimeError
from tests.edge.tflite_helpers import convert, run_edge_cli, write_info

WINDOW, HORIZON, FEATURES, TARGET = 8, 3, ["temp", "humidity"], "temp"


def series(n: int = 300) -> np.ndarray:
    """(n, 2) hourly temp and humidity with a daily cycle."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    temp = 12 + 6 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, n)
    return np.stack([temp, 80 - 2 * temp + rng.normal(0, 1, n)], -1).astype(np.float32)


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    """(Keras model, float32 .tflite with its JSON beside it, int8 .tflite with its JSON embedded)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    data = series()
    mean, std = data.mean(0), data.std(0)
    windows = np.stack([data[i:i + WINDOW] for i in range(len(data) - WINDOW - HORIZON)])  # (N, W, F)
    targets = np.stack([data[i + WINDOW:i + WINDOW + HORIZON, 0] for i in range(len(windows))])  # (N, H)
    inputs = tf.keras.Input((WINDOW, len(FEATURES)), name="window")
    x = tf.keras.layers.Normalization(mean=mean, variance=std ** 2)(inputs)
    x = tf.keras.layers.LSTM(8, unroll=True)(x)
    x = tf.keras.layers.Dense(HORIZON)(x)
    outputs = tf.keras.layers.Rescaling(scale=float(std[0]), offset=float(mean[0]))(x)  # target units
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="mae")
    model.fit(windows, targets, epochs=3, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("forecast")
    spec = {"forecast": {"window": WINDOW, "horizon": HORIZON, "features": FEATURES, "target": TARGET}}
    f32 = convert(model, folder / "float32.tflite")
    write_info(f32, "forecast", "beside", **spec)
    i8 = convert(model, folder / "int8.tflite", representative=windows[::4])
    write_info(i8, "forecast", "embedded", **spec)
    return model, f32, i8, float(std[0])


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A CSV whose columns are in another order than the model's features, and its last window."""
    data = series(40)
    path = tmp_path_factory.mktemp("csv") / "history.csv"
    lines = ["hour,humidity,temp"] + [f"{i},{h:.4f},{t:.4f}" for i, (t, h) in enumerate(data)]
    path.write_text("\n".join(lines) + "\n")
    return path, np.round(data[-WINDOW:], 4)


def test_float32_and_int8_forecasts_match_keras(forecaster, history):
    model, f32, i8, target_std = forecaster
    path, window = history
    expected = model(window[None]).numpy()[0]  # (H,)
    got32 = forecast(EdgeModel(f32), [path])[0]
    assert got32.target == TARGET and len(got32.values) == HORIZON
    np.testing.assert_allclose(got32.values, expected, atol=1e-3)
    got8 = forecast(EdgeModel(i8), [path])[0]  # info read from the metadata inside the .tflite
    assert EdgeModel(i8).input["dtype"] == np.int8
    np.testing.assert_allclose(got8.values, expected, atol=0.1 * target_std)


def test_cli_forecasts_without_tensorflow(forecaster, history):
    model, f32, i8, _ = forecaster
    path, window = history
    out = run_edge_cli("predict", str(i8), str(path), str(path), "--json")
    assert out.returncode == 0, out.stderr
    assert "XNNPACK" not in out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) == 2 and results[0]["source"] == str(path) and results[0]["target"] == TARGET
    assert results[0]["values"] == results[1]["values"]
    np.testing.assert_allclose(results[0]["values"], forecast(EdgeModel(i8), [path])[0].values, rtol=1e-6)
    text = run_edge_cli("predict", str(f32), str(path))
    assert text.returncode == 0 and text.stdout.count("t+") == HORIZON, text.stderr


def test_short_csv_missing_and_bad_columns_are_one_sentence(tmp_path):
    csv = tmp_path / "h.csv"
    csv.write_text("temp,humidity\n1,2\n3,4\n")
    with pytest.raises(EdgeRuntimeError, match="has 2 data rows but the model needs the last 8"):
        read_window(csv, FEATURES, WINDOW)
    with pytest.raises(EdgeRuntimeError, match="has no column 'pressure'"):
        read_window(csv, ["temp", "pressure"], 2)
    csv.write_text("temp,humidity\n1,2\n3,n/a\n")
    with pytest.raises(EdgeRuntimeError, match=r"line 3: column 'humidity' is 'n/a', not a number"):
        read_window(csv, FEATURES, 2)
    np.testing.assert_array_equal(read_window(tmp_path / "h.csv", ["temp"], 1), [[3.0]])


def test_cli_error_for_a_bad_csv_and_a_wrong_window(forecaster, tmp_path):
    _, f32, _, _ = forecaster
    csv = tmp_path / "short.csv"
    csv.write_text("temp,humidity\n1,2\n")
    out = run_edge_cli("predict", str(f32), str(csv))
    assert out.returncode == 1
    assert out.stderr.strip() == (f"edgeflow-edge: error: {csv} has 1 data rows but the model needs the last "
                                  f"{WINDOW}; give at least {WINDOW} rows")
    with pytest.raises(EdgeRuntimeError, match=r"expects \(N, 8, 2\)"):
        EdgeModel(f32).run(np.zeros((1, 5, 2), np.float32))
    info = json.loads(f32.with_suffix(".json").read_text())
    info["forecast"]["window"] = 12
    copy = tmp_path / "mismatch.tflite"
    copy.write_bytes(f32.read_bytes())
    copy.with_suffix(".json").write_text(json.dumps(info))
    with pytest.raises(EdgeRuntimeError, match="do not belong together"):
        forecast(EdgeModel(copy), [csv])


def test_an_unknown_task_is_named(forecaster, history, tmp_path, capsys):
    from edgeflow.edge.cli import main

    _, f32, _, _ = forecaster
    info = json.loads(f32.with_suffix(".json").read_text())
    copy = tmp_path / "segmenter.tflite"
    copy.write_bytes(f32.read_bytes())
    copy.with_suffix(".json").write_text(json.dumps({**info, "task": "segmentation"}))
    assert main(["predict", str(copy), str(history[0])]) == 1
    assert "task 'segmentation' is not one of classification, forecast, detection" in capsys.readouterr().err
