"""Augmentation changes the fit batches in training only; the model and its SavedModel never have it."""
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.config import AugmentConfig, ConfigError, DiagnosticsConfig, ImageConfig, ModelConfig, TrainConfig, \
    load_config
from edgeflow.models.image.augment import augment_dataset, build_augmenter
from edgeflow.models.image.trainer import ImageTask
from edgeflow.models.training.skeleton import TrainingTask, train

PHOTO = AugmentConfig(enabled=True)


def images(n=16, side=12):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, side, side, 3)).astype("float32")  # (N, H, W, 3)
    y = (x[..., 0].mean(axis=(1, 2)) > 0.5).astype("int64")
    return x, y


def test_layers_change_images_in_training_and_leave_them_alone_in_inference():
    x, _ = images()
    augmenter = build_augmenter(PHOTO, seed=1)
    assert [layer.name for layer in augmenter.layers] == ["flip", "rotation", "zoom", "translation", "contrast"]
    assert not np.allclose(augmenter(x, training=True).numpy(), x, atol=1e-3)
    np.testing.assert_array_equal(augmenter(x, training=False).numpy(), x)


def test_switches_turn_each_change_off():
    assert build_augmenter(AugmentConfig(enabled=False)) is None
    none = AugmentConfig(enabled=True, flip="none", rotation=0.0, zoom=0.0, translation=0.0, contrast=0.0)
    assert build_augmenter(none) is None
    only_flip = build_augmenter(AugmentConfig(enabled=True, rotation=0.0, zoom=0.0, translation=0.0, contrast=0.0))
    assert [layer.name for layer in only_flip.layers] == ["flip"]
    x, _ = images(n=64)
    flipped = only_flip(x, training=True).numpy()
    for a, b in zip(flipped, x):  # each image is itself or its mirror, nothing in between
        assert np.allclose(a, b) or np.allclose(a, b[:, ::-1])


def test_bad_settings_name_the_field():
    with pytest.raises(ConfigError, match=r"augment\.flip must be one of none"):
        load_config("image", overrides=["augment.flip=diagonal"])
    with pytest.raises(ConfigError, match=r"augment\.rotation must be in \[0, 1\)"):
        load_config("image", overrides=["augment.rotation=2"])


def test_fit_batches_are_augmented_and_validation_is_not():
    x, y = images()
    fit, validation = (tf.data.Dataset.from_tensor_slices((x, y)).batch(8) for _ in range(2))
    task = ImageTask(ImageConfig(size=12, channels=3), ModelConfig(blocks=1, filters=4), ["a", "b"], fit=fit,
                     validation=validation, augment=PHOTO)
    got_fit, got_validation = task.datasets(TrainConfig(seed=0))
    fit_x = np.concatenate([b.numpy() for b, _ in got_fit])
    assert not np.allclose(fit_x, x, atol=1e-3) and 0.0 <= fit_x.min() and fit_x.max() <= 1.0
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b, _ in got_validation]), x)
    assert np.array_equal(augment_dataset(fit, None).as_numpy_iterator().next()[0], x[:8])


class PlainImageTask(ImageTask):
    export = TrainingTask.export  # a plain SavedModel (no Transform graph, which only a TFX run has)


def test_exported_savedmodel_has_no_augmentation(tmp_path):
    x, y = images(n=24)
    fit, validation = (tf.data.Dataset.from_tensor_slices((x[s], y[s])).batch(8) for s in (slice(0, 16), slice(16, 24)))
    task = PlainImageTask(ImageConfig(size=12, channels=3), ModelConfig(blocks=1, filters=4), ["a", "b"], fit=fit,
                          validation=validation, augment=PHOTO)
    args = SimpleNamespace(model_run_dir=str(tmp_path / "run"), serving_model_dir=str(tmp_path / "serving"),
                           base_model=None)
    cfg = TrainConfig(epochs=2, batch_size=8, lr_schedule="constant", tensorboard=False, distribute="none",
                      validation_fraction=0.25)
    model = train(task, args, cfg, DiagnosticsConfig(enabled=False))
    assert not any("random" in layer.__class__.__name__.lower() for layer in model.layers)
    serve = tf.saved_model.load(args.serving_model_dir).signatures["serving_default"]
    first, second = (list(serve(tf.constant(x)).values())[0].numpy() for _ in range(2))
    np.testing.assert_array_equal(first, second)  # same input, same output: nothing random in the graph
    np.testing.assert_allclose(first, model.predict(x, verbose=0), atol=1e-5)
