"""Gradient through time: the profile's shape, the vanishing verdict, the anchor's skip path, the callback's files."""
import edgeflow  # noqa: F401

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.config import DiagnosticsConfig, SequenceConfig
from edgeflow.models.sequence.gradients import (JSON_NAME, PLOT_NAME, TimeStepGradientError, TimeStepGradients,
                                                decay_summary, efolding_steps, time_step_gradient_callbacks,
                                                time_step_gradient_norms, time_step_gradients)
from edgeflow.models.sequence.model import build_rnn, compile_rnn


def classifier(cell: str, window: int, units: int = 4, features: int = 2):
    cfg = SequenceConfig(task="classify", cell=cell, units=units, window=window, bidirectional=False)
    tf.keras.utils.set_random_seed(0)
    return compile_rnn(build_rnn(window, features, 2, cfg), "classify", 0.01)


def probe(window: int, features: int = 2, n: int = 8):
    x = np.random.default_rng(0).normal(size=(n, window, features)).astype(np.float32)  # (P, W, F)
    return x, np.arange(n) % 2


def poor_simple_rnn(window: int):
    """A SimpleRNN whose recurrent kernel is 0.1 x I: the gradient shrinks about 10x per step back."""
    model = classifier("simple_rnn", window)
    kernel, _, bias = model.get_layer("simple_rnn1").get_weights()
    model.get_layer("simple_rnn1").set_weights([np.ones_like(kernel), 0.1 * np.eye(4, dtype=np.float32), bias])
    return model


def remembering_lstm(window: int):
    """An LSTM with its forget gate held open (bias 6, forget ~ 0.998): its cell state carries step 1 to step W."""
    model = classifier("lstm", window)
    kernel, recurrent, bias = model.get_layer("lstm1").get_weights()  # bias (4U,): input, forget, cell, output
    bias[4:8] = 6.0
    model.get_layer("lstm1").set_weights([kernel, recurrent, bias])
    return model


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_profile_has_one_finite_norm_per_step(cell):
    x, y = probe(5)
    profile = time_step_gradient_norms(classifier(cell, 5), x, y)
    assert profile.shape == (5,)
    assert np.all(np.isfinite(profile)) and np.all(profile > 0)


def test_a_poorly_initialized_simple_rnn_vanishes_on_a_long_window_but_not_on_two_steps():
    x, y = probe(16)
    long = time_step_gradients(poor_simple_rnn(16), x, y)
    assert long["vanishing"] and long["flagged"]
    assert long["first_to_last"] < 1e-10
    assert 0.2 < long["efold_steps"] < 0.6  # about 10x (1 / ln 10 = 0.43 steps) or more per step
    assert "sequence.cell=lstm|gru" in long["message"]
    x2, y2 = probe(2)
    short = time_step_gradients(poor_simple_rnn(2), x2, y2)
    assert not short["vanishing"] and short["first_to_last"] > DiagnosticsConfig.vanishing_ratio


def test_an_lstm_with_an_open_forget_gate_is_not_flagged_on_the_same_window():
    x, y = probe(16)
    report = time_step_gradients(remembering_lstm(16), x, y)
    assert not report["vanishing"] and not report["flagged"]
    assert report["first_to_last"] > 0.01
    assert "reach the first step" in report["message"]


def test_the_anchor_skip_path_is_left_out_of_the_network_profile():
    cfg = SequenceConfig(task="forecast", cell="gru", units=3, window=6, horizon=2, season=3, anchor="last",
                         inputs="values")
    tf.keras.utils.set_random_seed(0)
    model = compile_rnn(build_rnn(6, 1, 2, cfg), "forecast", 0.01)
    head = model.get_layer("forecast")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])  # the network adds nothing: only the anchor
    x = np.random.default_rng(1).normal(size=(4, 6, 1)).astype(np.float32)
    y = np.zeros((4, 2), np.float32)
    network = time_step_gradient_norms(model, x, y)
    total = time_step_gradient_norms(model, x, y, network_only=False)
    np.testing.assert_allclose(network, 0.0, atol=1e-7)
    assert total[-1] > 0.1 and np.all(total[:-1] == 0)  # the last value, read straight from the input


def test_decay_summary_of_a_known_geometric_profile():
    profile = np.exp(np.arange(10) / 2.0)  # grows e-fold every 2 steps towards the last
    summary = decay_summary(profile, vanishing_ratio=1e-3)
    assert summary["efold_steps"] == pytest.approx(2.0)
    assert summary["first_to_last"] == pytest.approx(np.exp(-4.5))
    assert not summary["vanishing"]
    assert decay_summary(profile, vanishing_ratio=0.05)["vanishing"]
    assert efolding_steps(np.ones(5)) == float("inf")
    assert decay_summary([1.0, float("nan")])["flagged"]


def test_callback_writes_the_profile_and_the_plot_and_warns(tmp_path, caplog):
    x, y = probe(16)
    model = poor_simple_rnn(16)
    callback = TimeStepGradients((x, y), str(tmp_path), every=1)
    with caplog.at_level(logging.INFO, logger="edgeflow.train"):
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    report = json.loads((tmp_path / JSON_NAME).read_text())
    assert len(report["profile"]) == 16 and report["epoch"] == 2 and report["vanishing"]
    assert [c["epoch"] for c in report["checks"]] == [1, 2]  # every epoch, and the end not measured twice
    assert (tmp_path / PLOT_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "vanishing gradients through time" in
                r.getMessage()]
    assert len(warnings) == 1
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[callback])  # state is reset per training
    assert [c["epoch"] for c in json.loads((tmp_path / JSON_NAME).read_text())["checks"]] == [1]


def test_bad_probe_and_settings_get_one_sentence():
    model = classifier("gru", 5)
    x, y = probe(7)
    with pytest.raises(TimeStepGradientError, match=r"shape \(8, 7, 2\).*\(B, 5, 2\)"):
        time_step_gradient_norms(model, x, y)
    with pytest.raises(TimeStepGradientError, match="vanishing_ratio"):
        TimeStepGradients(probe(5), "out", vanishing_ratio=2.0)
    with pytest.raises(TimeStepGradientError, match="every"):
        TimeStepGradients(probe(5), "out", every=-1)
    with pytest.raises(TimeStepGradientError, match="probe windows"):
        TimeStepGradients((np.zeros((4, 5)), np.zeros(4)), "out")


def test_trainer_hook_follows_the_diagnostics_config(tmp_path):
    x, y = probe(5, n=10)
    assert time_step_gradient_callbacks(str(tmp_path), (x, y), DiagnosticsConfig(enabled=False)) == []
    (callback,) = time_step_gradient_callbacks(str(tmp_path), (x, y), DiagnosticsConfig(probe_size=3,
                                                                                        vanishing_ratio=0.05))
    assert callback.probe[0].shape == (3, 5, 2) and callback.vanishing_ratio == 0.05
