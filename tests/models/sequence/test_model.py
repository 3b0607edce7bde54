"""The recurrent builder: every cell trains, the anchored head, TFLite conversion matches Keras."""
import edgeflow  # noqa: F401


from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.sequence.model import build_rnn, compile_rnn, seasonal_change_scale
from edgeflow.config import SequenceConfig

# a Holt-Winters anchor for season 3 (the default forecaster's; see test_smoothing.py for what it computes)
SMOOTHING = {"alpha": 0.5, "beta": 0.1, "gamma": 0.3, "trend": 0.0, "profile": [1.0, 0.0, -1.0]}


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("task", ["forecast", "classify"])
def test_each_cell_trains_one_step(cell, task):
    cfg = SequenceConfig(task=task, cell=cell, units=4, layers=2, window=6, horizon=2, season=3,
                         dropout=0.1, recurrent_dropout=0.1)
    outputs = 2 if task == "forecast" else 3
    model = compile_rnn(build_rnn(6, 2, outputs, cfg, smoothing=SMOOTHING), task, 0.01)
    x = np.random.default_rng(0).normal(size=(8, 6, 2)).astype(np.float32)
    y = np.zeros((8, 2), np.float32) if task == "forecast" else np.arange(8) % 3
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.predict(x, verbose=0).shape == (8, outputs)
    bidirectional = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Bidirectional)]
    assert len(bidirectional) == (2 if task == "classify" else 0)


@pytest.mark.parametrize("anchor, expected", [("seasonal", [[3.0, 4.0]]), ("last", [[5.0, 5.0]])])
def test_forecast_head_corrects_a_naive_forecast(anchor, expected):
    cfg = SequenceConfig(task="forecast", units=3, window=6, horizon=2, season=3, anchor=anchor)
    model = build_rnn(6, 1, 2, cfg)
    head = model.get_layer("forecast")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])  # no correction
    x = np.arange(6.0, dtype=np.float32).reshape(1, 6, 1)  # 0..5
    np.testing.assert_allclose(model.predict(x, verbose=0), expected)


def test_seasonal_change_inputs_and_correction_scale():
    """The RNN reads the last W - S steps with the target's change over one season, divided by its scale;
    the head's correction is multiplied by the scale and added to the seasonal-naive anchor."""
    cfg = SequenceConfig(task="forecast", units=3, window=6, horizon=2, season=3, inputs="seasonal_change",
                         anchor="seasonal")
    x = np.array([[0, 1, 2, 0.5, 1.5, 3.0]], np.float32).reshape(1, 6, 1)  # change over a season: 0.5, 0.5, 1.0
    assert seasonal_change_scale(x, season=3) == pytest.approx(np.std([0.5, 0.5, 1.0]))
    model = build_rnn(6, 1, 2, cfg, change_scale=0.25)
    seen = tf.keras.Model(model.input, model.get_layer("values_and_change").output)(x).numpy()
    np.testing.assert_allclose(seen[0], [[0.5, 2.0], [1.5, 2.0], [3.0, 4.0]])  # (W - S, F + 1)
    head = model.get_layer("forecast")
    head.set_weights([np.zeros_like(head.get_weights()[0]), np.array([4.0, -4.0], np.float32)])
    np.testing.assert_allclose(model.predict(x, verbose=0), [[0.5 + 1.0, 1.5 - 1.0]])  # anchor + 0.25 * bias


def test_seasonal_change_needs_a_window_longer_than_the_season():
    from edgeflow.config import ConfigError

    with pytest.raises(ConfigError, match="inputs is seasonal_change, which needs window > season"):
        SequenceConfig(task="forecast", window=24, horizon=6, season=24, baselines="persistence,seasonal_naive")
    assert SequenceConfig(task="forecast", window=24, horizon=6, season=24, inputs="values",
                          baselines="persistence,seasonal_naive").season == 24


def test_rnn_steps_sets_how_many_last_rows_the_hybrids_rnn_reads():
    from edgeflow.config import ConfigError

    smoothing = {**SMOOTHING, "profile": np.sin(np.arange(6) / 3.0).tolist()}
    cfg = SequenceConfig(task="forecast", units=4, window=24, horizon=3, season=6, baselines="persistence,seasonal_naive")
    steps = {r: build_rnn(24, 1, 3, replace(cfg, rnn_steps=r), smoothing=smoothing).get_layer("lstm1").input.shape[1]
             for r in (None, 4, 100)}
    assert steps == {None: 12, 4: 4, 100: 18}  # default 2 S; at most the W - S rows of seasonal change
    with pytest.raises(ConfigError, match="rnn_steps"):
        replace(cfg, rnn_steps=0)


def convert(model, x, int8: bool) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def run_tflite(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=flatbuffer)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], x.shape)
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    return interp.get_tensor(out["index"])


@pytest.mark.slow
def test_unrolled_gru_converts_to_tflite_float_and_int8_matching_keras():
    """Float within 1e-4 of Keras; full-integer (int8 weights and activations, float I/O) within 0.1
    of a forecast whose values span about 2 (the unrolled GRU; see models/sequence/model.py)."""
    cfg = SequenceConfig(task="forecast", cell="gru", units=8, window=12, horizon=3, season=6, anchor="seasonal")
    model = build_rnn(12, 1, 3, cfg)
    x = np.sin(np.arange(40 * 12, dtype=np.float32) / 3.0).reshape(40, 12, 1)
    keras_out = model.predict(x, verbose=0)
    np.testing.assert_allclose(run_tflite(convert(model, x, int8=False), x), keras_out, atol=1e-4)
    assert np.abs(run_tflite(convert(model, x, int8=True), x) - keras_out).max() < 0.1
    # the Holt-Winters anchor (the default) converts to float TFLite; its full-integer form is int16x8
    # (tests/components/edge_export/test_int16x8.py): int8 activations lose its small one-step errors
    smoothing = {**SMOOTHING, "profile": np.sin(np.arange(6) / 3.0).tolist()}
    hw_model = build_rnn(12, 1, 3, replace(cfg, anchor="holt_winters"), smoothing=smoothing)
    np.testing.assert_allclose(run_tflite(convert(hw_model, x, int8=False), x), hw_model.predict(x, verbose=0),
                               atol=1e-4)
