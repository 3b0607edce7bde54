"""Transfer learning (models/image/backbone.py): a keras.applications backbone under a new head, its
weights from a file, two-stage training, and the offline imagenet path as one sentence. 32x32 inputs."""
import logging
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from edgeflow import EdgeflowError
from edgeflow.config import ConfigError, DiagnosticsConfig, ImageConfig, ModelConfig, TrainConfig, load_config
from edgeflow.models.image.backbone import backbone_layers
from edgeflow.models.image.model import build_classifier
from edgeflow.models.image.trainer import ImageTask
from edgeflow.models.training.skeleton import train

keras = tf.keras


def saved_backbone_weights(path, images):
    """What a user brings: keras.applications' MobileNetV2 without its top, weights saved as .h5. Its batch
    norm statistics are set from `images` (one pass with momentum 0), as a pretrained network's are fitted
    to its data: with a fresh one's (mean 0, variance 1) a frozen MobileNet's activations fade to ~1e-12."""
    tf.keras.utils.set_random_seed(7)
    donor = keras.applications.MobileNetV2(input_shape=images.shape[1:3] + (3,), include_top=False, weights=None)
    for layer in donor.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    donor(np.repeat(images, 3, axis=-1) * 2.0 - 1.0, training=True)
    donor.save_weights(str(path))
    return {layer.name: layer.get_weights() for layer in donor.layers if layer.weights}


class EagerImageTask(ImageTask):
    """The image task run eagerly (tracing MobileNetV2's train step takes ~50 s on 2 cores; 2 steps an epoch
    run in ~2 s eagerly), without its SavedModel export (the Transform graph only a TFX run has)."""

    def compile(self, model, optimizer):
        super().compile(model, optimizer)
        model.run_eagerly = True

    def export(self, model, fn_args):
        pass


def test_weights_file_loads_and_two_stages_train_head_then_top_of_backbone(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 32, 32, 1)).astype("float32")
    y = (np.arange(16) % 2).astype("int64")
    x[y == 1, :16] = 1.0  # class 1: a bright top half
    donor = saved_backbone_weights(tmp_path / "mobilenet_v2_no_top.h5", x)
    cfg = ModelConfig(backbone="mobilenet_v2", weights=str(tmp_path / "mobilenet_v2_no_top.h5"), dropout=0.0)
    # grayscale in [0, 1], as the Transform graph gives it: to RGB, then MobileNet's [-1, 1], inside the model
    model = build_classifier((32, 32, 1), 2, cfg)
    for name in ("Conv1", "block_16_project"):
        for got, want in zip(model.get_layer(name).get_weights(), donor[name]):
            np.testing.assert_array_equal(got, want)
    scaled = keras.Model(model.input, model.get_layer("backbone_preprocess").output)(np.zeros((1, 32, 32, 1)))
    assert scaled.shape == (1, 32, 32, 3) and np.allclose(scaled, -1.0)

    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    task = EagerImageTask(ImageConfig(size=32, channels=1), cfg, ["dark", "bright"], fit=data, validation=data)
    run = tmp_path / "run"
    fn_args = SimpleNamespace(model_run_dir=str(run), serving_model_dir=str(run / "serving"), base_model=None)
    trained = train(task, fn_args, TrainConfig(epochs=1, fine_tune_epochs=1, fine_tune_layers=12, resume=False,
                                               tensorboard=False), DiagnosticsConfig(enabled=False))
    layers = backbone_layers(trained)
    top = [layer for layer in layers[-12:] if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)]
    low = [layer for layer in layers[:-12] if layer.weights]
    assert top and all(layer.trainable for layer in top)
    # the lower backbone kept the file's weights through both stages; the unfrozen top moved in the second
    for layer in low:
        for got, want in zip(layer.get_weights(), donor[layer.name]):
            np.testing.assert_array_equal(got, want)
    assert any(not np.allclose(got, want) for layer in top for got, want in zip(layer.get_weights(), donor[layer.name]))
    import json

    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]  # stage two continues the epoch count


def test_mobilenet_v3_small_takes_rgb_and_gives_probabilities():
    model = build_classifier((32, 32, 3), 4, ModelConfig(backbone="mobilenet_v3_small", weights=None))
    probs = model(np.full((2, 32, 32, 3), 0.5, "float32")).numpy()
    assert model.input.name.startswith("image") and probs.shape == (2, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_a_missing_or_foreign_weights_file_is_one_sentence(tmp_path):
    with pytest.raises(EdgeflowError, match=r"model.weights file .*none.h5 does not exist"):
        build_classifier((32, 32, 3), 2, ModelConfig(backbone="mobilenet_v2", weights=str(tmp_path / "none.h5")))
    (tmp_path / "junk.h5").write_bytes(b"not a weights file")
    with pytest.raises(EdgeflowError, match=r"junk.h5 does not fit the mobilenet_v2 backbone"):
        build_classifier((32, 32, 3), 2, ModelConfig(backbone="mobilenet_v2", weights=str(tmp_path / "junk.h5")))


def test_backbone_refuses_small_images_and_tuning_and_cnn_refuses_a_weights_file():
    with pytest.raises(ConfigError, match=r"image.size is 16, smaller than the 32 px the mobilenet_v2 backbone needs"):
        load_config("image", overrides=["model.backbone=mobilenet_v2", "image.size=16"])
    with pytest.raises(ConfigError, match=r"tuning.enabled searches the cnn's controls only"):
        load_config("image", overrides=["model.backbone=mobilenet_v2", "tuning.enabled=true"])
    with pytest.raises(ConfigError, match=r"model.weights is a weights file, which only a backbone reads"):
        load_config("image", overrides=["model.weights=w.h5"])
    with pytest.raises(ConfigError, match=r"model.backbone is mobilenet_v3_small, .*HARD_SWISH.*use mobilenet_v2 or cnn"):
        load_config("image", overrides=["model.backbone=mobilenet_v3_small", "export.target=edgetpu"])
    assert load_config("image", overrides=["model.backbone=mobilenet_v2", "export.target=edgetpu"]).model.backbone
    with pytest.raises(ConfigError, match=r"train.fine_tune_lr applies only to the image pipeline"):
        load_config("sequence", overrides=["train.fine_tune_lr=0.001"])


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network and an empty Keras cache: proxies on a closed local port, HOME in tmp_path. urllib
    caches its opener (with the proxies it saw) on first use; monkeypatch puts the old one back after."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".keras").mkdir(parents=True)
    monkeypatch.setattr(urllib.request, "_opener", None)


def test_imagenet_offline_is_one_sentence_naming_the_fix(offline, tmp_path, capsys):
    from edgeflow.pipelines.cli import main
    from tests.pipelines.test_hostile_input import check_one_sentence

    from PIL import Image

    for name, value in (("dark", 20), ("bright", 230)):
        (tmp_path / "in" / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (value, value, i * 50)).save(tmp_path / "in" / name / f"{i}.png")
    out = tmp_path / "out"
    try:
        code = main(["run", "image", "--no-tracking", "--data", str(tmp_path / "in"), "--output", str(out),
                     "--set", "model.backbone=mobilenet_v2"])
    finally:
        console = logging.getLogger("edgeflow")
        for h in [h for h in console.handlers if getattr(h, "_edgeflow_console", False)]:
            console.removeHandler(h)
    captured = capsys.readouterr()
    check_one_sentence(code, captured.out, captured.err, ["model.weights=imagenet", "model.weights=null",
                                                          "local weights file"], out)


def test_diagnostics_advice_for_a_backbone_names_its_own_cures_not_the_cnns_batch_norm():
    from edgeflow.models.training.diagnostics import build_diagnostics

    probe = (np.zeros((2, 32, 32, 3), "float32"), np.zeros((2,), "int64"))
    for backbone, said, not_said in (("mobilenet_v2", "train.fine_tune_layers", "model.batch_norm"),
                                     ("cnn", "model.batch_norm=true", "train.fine_tune_layers")):
        task = ImageTask(ImageConfig(size=32, channels=3), ModelConfig(backbone=backbone, weights=None), ["a", "b"])
        health = build_diagnostics(DiagnosticsConfig(), probe, None, advice=task.advice())[0]
        # the report of an epoch whose first layer's gradient was 1e-5 x the last layer's
        health.checks = [{"epoch": 1, "norms": {}, "first_to_last": 1e-5, "vanishing": True, "exploding": False}]
        message = health.report()["message"]
        assert message.startswith("vanishing gradients") and said in message and not_said not in message
