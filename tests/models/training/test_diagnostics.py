"""Each diagnostic sees what it claims, on tiny synthetic data (seconds each)."""
import json

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.training.callbacks import build_callbacks
from edgeflow.models.image.model import build_cnn
from edgeflow.models.controls import apply_activation, apply_dropout, configured_cures, layer_kwargs
from edgeflow.models.training.diagnostics import (DeadUnits, DiagnosticsReport, GradientHealth, Overfitting,
                                         build_diagnostics, dead_fraction)
from edgeflow.config import DiagnosticsConfig, ModelConfig, TrainConfig

keras = tf.keras


def _data(n=64, features=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5).astype("int64") * (classes > 2)


def _mlp(activation, initializer, depth=10, width=32, bias=0.0, classes=3):
    tf.keras.utils.set_random_seed(1)
    inputs = keras.Input((16,))
    x = inputs
    for i in range(depth):
        x = keras.layers.Dense(width, kernel_initializer=initializer, name=f"dense{i}",
                               bias_initializer=keras.initializers.Constant(bias))(x)
        x = (keras.layers.LeakyReLU(0.1, name=f"act{i}") if activation == "leaky_relu"
             else keras.layers.Activation(activation, name=f"act{i}"))(x)
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", name="out")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _gradient_report(model, tmp_path):
    x, y = _data()
    report = DiagnosticsReport(str(tmp_path / "diagnostics.json"))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientHealth((x, y), report)])
    assert json.loads((tmp_path / "diagnostics.json").read_text())["gradient_health"]["checks"]
    return report.reports["gradient_health"]


def test_deep_sigmoid_with_poor_init_is_flagged_vanishing(tmp_path):
    poor = keras.initializers.RandomNormal(stddev=0.05, seed=1)
    report = _gradient_report(_mlp("sigmoid", poor), tmp_path)
    assert report["vanishing"] and report["flagged"]
    assert report["checks"][0]["first_to_last"] < 1e-3
    assert "ReLU" in report["message"] and "He" in report["message"]


def test_a_head_that_starts_at_zero_is_not_vanishing_once_it_moves(tmp_path):
    """The sequence hybrid's correction starts at zero: before its first update no gradient reaches the
    layers below it (ratio 0), which the report names as passing, not as the deep net's vanishing."""
    tf.keras.utils.set_random_seed(1)
    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="zeros", activation="softmax", name="out")(hidden))
    model.compile("adam", "sparse_categorical_crossentropy")
    report = _gradient_report(model, tmp_path)
    assert report["checks"][0]["vanishing"] and report["checks"][0]["first_to_last"] == 0.0
    assert not report["checks"][-1]["vanishing"]
    assert not report["vanishing"] and not report["flagged"] and report["first_vanishing_epoch"] == 0
    assert report["message"].startswith("gradients healthy") and "at epoch 0 only, recovered" in report["message"]


def test_same_network_with_relu_and_he_is_healthy(tmp_path):
    report = _gradient_report(_mlp("relu", keras.initializers.HeNormal(seed=1)), tmp_path)
    assert not report["flagged"]
    assert report["checks"][0]["first_to_last"] > 1e-2


def test_huge_weights_are_flagged_exploding(tmp_path):
    report = _gradient_report(_mlp("relu", keras.initializers.RandomNormal(stddev=3.0, seed=1), depth=6), tmp_path)
    assert report["exploding"] and "clipnorm" in report["message"]


@pytest.mark.parametrize("activation, flagged", [("relu", True), ("leaky_relu", False)])
def test_relu_pushed_into_dead_region_is_flagged_but_leaky_is_not(activation, flagged):
    x, y = _data()
    model = _mlp(activation, keras.initializers.HeNormal(seed=1), depth=2, bias=-20.0)
    cb = DeadUnits(x, DiagnosticsReport(None), threshold=0.5)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    report = cb.report()
    assert report["flagged"] is flagged
    fractions = report["checks"][-1]["dead_fraction"]
    assert set(fractions) == {"act0", "act1"}
    if flagged:
        assert fractions["act0"] == 1.0 and "leaky_relu" in report["message"]
    else:
        assert max(fractions.values()) == 0.0


def test_dead_fraction_counts_units_that_never_fire():
    a = np.zeros((4, 2, 2, 3))
    a[1, 0, 1, 2] = 0.5  # only unit 2 fires, once
    assert dead_fraction(a) == pytest.approx(2 / 3)


def _overfit(model_cfg, tmp_path):
    """A 2x512 MLP (built with the shared controls) trained on 40 digits; returns the overfitting report."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target.astype("int64")
    tf.keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    h = inputs
    for i in range(2):
        h = keras.layers.Dense(512, name=f"dense{i}", **layer_kwargs(model_cfg))(h)
        h = apply_dropout(apply_activation(h, model_cfg.activation, name=f"act{i}"), model_cfg.dropout, f"drop{i}")
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", **layer_kwargs(model_cfg))(h))
    model.compile(keras.optimizers.Adam(0.001), "sparse_categorical_crossentropy")
    path = tmp_path / f"d{model_cfg.dropout}.json"
    cbs = build_diagnostics(DiagnosticsConfig(), (x[:32], y[:32]), str(path), configured_cures(model_cfg, False))
    model.fit(x[:40], y[:40], validation_data=(x[1000:1300], y[1000:1300]), epochs=40, batch_size=20,
              verbose=0, callbacks=cbs)
    return json.loads(path.read_text())["overfitting"]


@pytest.mark.slow
def test_overfitting_is_flagged_and_reduced_by_dropout_and_l2(tmp_path):
    plain = _overfit(ModelConfig(dropout=0.0), tmp_path)
    assert plain["flagged"] and plain["started_epoch"] > 1 and plain["val_loss_rising"]
    assert "configured cures: none" in plain["message"] and "dropout" in plain["message"]
    cured = _overfit(ModelConfig(dropout=0.5, l2=1e-4), tmp_path)
    assert cured["cures"] == ["dropout 0.5", "L2 0.0001"]
    assert cured["final_gap"] < 0.85 * plain["final_gap"], (cured["final_gap"], plain["final_gap"])


def test_overfitting_verdict_from_a_loss_history():
    cb = Overfitting(DiagnosticsReport(None), gap_threshold=0.1, cures=["early stopping"])
    cb.on_train_begin()
    for epoch, (loss, val) in enumerate([(1.0, 1.0), (0.6, 0.7), (0.3, 0.6), (0.1, 0.8), (0.05, 1.0)]):
        cb.on_epoch_end(epoch, {"loss": loss, "val_loss": val})
    report = cb.report()
    assert report["flagged"] and report["started_epoch"] == 3 and report["gap_trend"] > 0
    assert report["val_loss_rising"] and "rising since epoch 4" in report["message"]
    assert "dropout" in report["message"] and "configured cures: early stopping" in report["message"]


def test_diagnostics_ride_along_the_other_callbacks(tmp_path):
    x, y = _data()
    model = build_cnn((4, 4, 1), 3, ModelConfig(blocks=1, filters=4))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    xi = x.reshape(-1, 4, 4, 1)
    diags = build_diagnostics(DiagnosticsConfig(probe_size=8), (xi[:8], y[:8]), str(tmp_path / "diagnostics.json"))
    cbs = build_callbacks(TrainConfig(epochs=2, lr_schedule="cosine"), str(tmp_path), str(tmp_path / "backup"), diags)
    model.fit(xi, y, validation_data=(xi, y), epochs=2, verbose=0, callbacks=cbs)
    saved = json.loads((tmp_path / "diagnostics.json").read_text())
    assert set(saved) == {"gradient_health", "dead_units", "overfitting"}
    assert len(json.loads((tmp_path / "history.json").read_text())) == 2
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
