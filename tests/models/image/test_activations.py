"""Activations that fit the target: prelu (one learned slope per channel) runs on the Edge TPU;
leaky_relu with export.target=edgetpu is built as prelu; other activations it cannot run are refused."""
from dataclasses import replace

import numpy as np
import pytest

from edgeflow.config import ConfigError, ModelConfig, load_config
from edgeflow.edge.edgetpu import check_edgetpu
from edgeflow.models.image.model import build_cnn, keras


def test_prelu_has_one_slope_per_channel_starting_at_leaky_alpha():
    model = build_cnn((8, 8, 1), 3, ModelConfig(blocks=1, filters=4, activation="prelu", leaky_alpha=0.2))
    slopes = model.get_layer("block1_act1").get_weights()[0]
    assert slopes.shape == (1, 1, 4)  # shared over H and W: one per channel
    np.testing.assert_allclose(slopes, 0.2)
    out = model(np.full((2, 8, 8, 1), -1.0, "float32"))
    np.testing.assert_allclose(out.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_int8_cnn_configured_leaky_for_the_edge_tpu_maps_every_op(tmp_path):
    """leaky_relu + export.target=edgetpu, as a user configures it, with the default centering
    (MEAN, SUB) on an RGB input: the int8 file's every operation is on the Edge TPU's list."""
    from edgeflow.components.edge_export.variants import to_tflite

    cfg = load_config("image", overrides=["export.target=edgetpu", "model.activation=leaky_relu",
                                          "image.size=8", "image.channels=3"])
    assert cfg.model.center
    model = build_cnn((8, 8, 3), 3, replace(cfg.model, blocks=2, filters=4))
    rep = np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 3)).astype(np.float32)
    path = tmp_path / "prelu.tflite"
    path.write_bytes(to_tflite(model, "int8", rep))
    report = check_edgetpu(path, compile_with=None)
    assert {"PRELU", "MEAN", "SUB"} <= set(report.ops) and "LEAKY_RELU" not in report.ops, report.ops
    assert report.compatible and report.cut_at is None, report.summary()


def test_centering_subtracts_each_images_mean_colour():
    model = build_cnn((4, 4, 3), 2, ModelConfig(blocks=1, filters=2))
    centered = keras.Model(model.input, model.get_layer("centered").output)
    x = np.random.default_rng(1).uniform(0, 1, (2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(centered(x).numpy(), x - x.mean(axis=(1, 2), keepdims=True), atol=1e-6)
    # an image and the same image on a brighter, tinted background get the same first-conv input
    np.testing.assert_allclose(centered(x + [0.2, 0.1, 0.0]).numpy(), centered(x).numpy(), atol=1e-6)
    assert "centered" not in [layer.name for layer in build_cnn((4, 4, 3), 2, ModelConfig(blocks=1, center=False)).layers]


def test_edgetpu_target_builds_leaky_relu_as_prelu_from_leaky_alpha():
    cfg = load_config("image", overrides=["export.target=edgetpu", "model.activation=leaky_relu",
                                          "model.leaky_alpha=0.2", "image.size=8", "image.channels=1"])
    assert cfg.model.activation == "prelu"
    model = build_cnn((8, 8, 1), 3, replace(cfg.model, blocks=1, filters=4))
    assert not [layer for layer in model.layers if layer.__class__.__name__ == "LeakyReLU"]
    np.testing.assert_allclose(model.get_layer("block1_act1").get_weights()[0], 0.2)


def test_edgetpu_target_refuses_what_it_cannot_run_and_names_the_alternatives():
    with pytest.raises(ConfigError, match=r"model\.activation is elu, .*use one of relu, prelu, sigmoid, tanh"):
        load_config("image", overrides=["export.target=edgetpu", "model.activation=elu"])


def test_edgetpu_target_keeps_what_it_can_run_and_cpu_keeps_leaky_relu():
    assert load_config("image", overrides=["export.target=edgetpu", "model.activation=prelu"]).model.activation == "prelu"
    assert load_config("image", overrides=["model.activation=leaky_relu"]).model.activation == "leaky_relu"
    assert load_config("sequence", overrides=["export.target=edgetpu"]).export.target == "edgetpu"
