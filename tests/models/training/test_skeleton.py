"""The one training skeleton with each real task's hooks (image, sequence, detection) on tiny in-memory data:
a killed training resumes, warm start starts from the given weights, MirroredStrategy trains, the
diagnostics are written. A few seconds per training."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.config import DetectionConfig, DiagnosticsConfig, ImageConfig, ModelConfig, SequenceConfig, TrainConfig
from edgeflow.models.detection.examples import DetectionSet
from edgeflow.models.detection.trainer import META_FILE, DetectionTask
from edgeflow.models.image.trainer import ImageTask
from edgeflow.models.sequence.trainer import SequenceTask
from edgeflow.models.training.bare_model import KERAS_MODEL
from edgeflow.models.training.skeleton import TrainingTask, train

from tests.models.training.test_callbacks import FirstEpoch, KilledAfter

keras = tf.keras
TASKS = ["image", "sequence", "detection"]


class PlainImageTask(ImageTask):
    """The image task without its Transform graph (which only a TFX run has): a plain SavedModel export."""

    export = TrainingTask.export


def no_export(task):
    """`task` without its (slow, here unread) SavedModel export; the bare Keras model is still saved."""
    task.export = lambda model, fn_args: None
    return task


def image_task():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(24, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype("int64")
    fit, validation = (tf.data.Dataset.from_tensor_slices((x[s], y[s])).batch(8) for s in (slice(0, 16), slice(16, 24)))
    return PlainImageTask(ImageConfig(size=8, channels=1), ModelConfig(blocks=1, filters=4), ["a", "b"], fit=fit,
                          validation=validation)


def sequence_task():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6, 2)).astype("float32")  # (N, W, F)
    y = (x[:, :, 0].sum(axis=1) > 0).astype("int64")[:, None]  # (N, 1) class ids
    seq = SequenceConfig(task="classify", window=6, units=4, bidirectional=False)
    return SequenceTask(seq, x, y, class_names=["down", "up"])


def detection_task():
    rng = np.random.default_rng(0)
    encoded, boxes, classes = [], [], []
    for _ in range(12):
        image = np.zeros((16, 16, 1), np.uint8)
        x0, y0 = rng.integers(0, 8, size=2)
        image[y0:y0 + 8, x0:x0 + 8] = 255  # one 8x8 square: box (cx, cy, w, h) = its centre and half the image
        encoded.append(tf.io.encode_png(image).numpy())
        boxes.append(np.array([[(x0 + 4) / 16, (y0 + 4) / 16, 0.5, 0.5]], np.float32))
        classes.append(np.array([0], np.int64))
    cfg = DetectionConfig(image_size=16, min_object_px=4, max_object_px=8, blocks=2, filters=4, num_anchors=1,
                          anchors=(0.5, 0.5))
    return DetectionTask(cfg, DetectionSet(encoded, boxes, classes), ["square"])


MAKERS = {"image": image_task, "sequence": sequence_task, "detection": detection_task}


def _fn_args(tmp_path, name="run", base_model=None):
    run = tmp_path / name
    return SimpleNamespace(model_run_dir=str(run / "model_run"), serving_model_dir=str(run / "serving"),
                           base_model=base_model)


def _train_cfg(**kw):
    kw = {"epochs": 3, "batch_size": 8, "early_stopping_patience": 10, "lr_schedule": "constant",
          "tensorboard": False, "distribute": "none", "validation_fraction": 0.25, **kw}
    return TrainConfig(**kw)


@pytest.mark.parametrize("name", TASKS)
def test_killed_training_resumes_at_the_next_epoch(name, tmp_path):
    cfg, backup = _train_cfg(epochs=4), str(tmp_path / "backup")
    args = _fn_args(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(no_export(MAKERS[name]()), args, cfg, DiagnosticsConfig(enabled=False), backup,
              callbacks=[KilledAfter(2)])
    keras.backend.clear_session()
    seen = FirstEpoch()
    train(no_export(MAKERS[name]()), args, cfg, DiagnosticsConfig(enabled=False), backup, callbacks=[seen])
    assert seen.epochs == [2, 3]  # epochs 3 and 4 (0-based 2, 3), not from scratch
    history = json.loads((tmp_path / "run" / "model_run" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert (tmp_path / "run" / "model_run" / KERAS_MODEL).exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_warm_start_starts_from_the_base_models_weights(name, tmp_path):
    cfg = _train_cfg(epochs=1)
    base_args = _fn_args(tmp_path, "base")
    base = train(MAKERS[name](), base_args, cfg, DiagnosticsConfig(enabled=False))
    base_weights = [w.copy() for w in base.get_weights()]
    keras.backend.clear_session()
    seen = FirstEpoch()
    train(MAKERS[name](), _fn_args(tmp_path, "warm", base_model=base_args.serving_model_dir), cfg,
          DiagnosticsConfig(enabled=False), callbacks=[seen])
    assert len(seen.start_weights) == len(base_weights)
    for started, trained in zip(seen.start_weights, base_weights):
        np.testing.assert_allclose(started, trained)
    keras.backend.clear_session()
    tf.keras.utils.set_random_seed(cfg.seed)  # without a base model the same seed starts elsewhere
    fresh = MAKERS[name]().build_model().get_weights()
    assert not all(np.allclose(a, b) for a, b in zip(fresh, base_weights))
    if name == "detection":  # its export: NMS signatures and the post-processing settings beside both models
        meta = json.loads((tmp_path / "base" / "serving" / META_FILE).read_text())
        assert meta["anchors"] == [[0.5, 0.5]] and meta["class_names"] == ["square"]
        assert (tmp_path / "base" / "model_run" / "keras" / "detection.json").exists()
        signatures = tf.saved_model.load(base_args.serving_model_dir).signatures
        assert {"serving_default", "serving_raw"} <= set(signatures)


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_mirrored_strategy_trains_and_diagnostics_are_written(name, tmp_path):
    args = _fn_args(tmp_path)
    model = train(no_export(MAKERS[name]()), args, _train_cfg(epochs=2, distribute="mirrored"), DiagnosticsConfig(probe_size=8))
    assert isinstance(model.distribute_strategy, tf.distribute.MirroredStrategy)
    history = json.loads((tmp_path / "run" / "model_run" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and all(np.isfinite(r["loss"]) for r in history)
    report = json.loads((tmp_path / "run" / "model_run" / "diagnostics.json").read_text())
    assert {"gradient_health", "dead_units", "overfitting"} <= set(report)
    assert len(report["gradient_health"]["checks"]) == 3  # before training and after each epoch
    assert all(np.isfinite(v) for v in report["gradient_health"]["checks"][-1]["norms"].values())
    assert [e["epoch"] for e in report["overfitting"]["epochs"]] == [1, 2]
    dead = report["dead_units"]
    if name == "sequence":  # an LSTM's units are tanh/sigmoid: the check says it does not apply
        assert not dead["applies"] and not dead["flagged"] and "does not apply" in dead["message"]
        profile = json.loads((tmp_path / "run" / "model_run" / "time_step_gradients.json").read_text())
        assert len(profile["profile"]) == 6 and (tmp_path / "run" / "model_run" / "time_step_gradients.png").exists()
    else:  # ReLU conv layers are checked
        assert dead["applies"] and dead["checks"][-1]["dead_fraction"]
