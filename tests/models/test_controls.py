"""The model controls: config validation names the field; the CNN is built from every control."""
import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.image.model import build_cnn
from edgeflow.models.controls import configured_cures, kernel_initializer, kernel_regularizer
from edgeflow.config import ConfigError, ModelConfig, load_config


@pytest.mark.parametrize("override, field", [
    ("model.activation=swish", "model.activation"),
    ("model.initializer=zeros", "model.initializer"),
    ("model.l2=-0.1", "model.l2"),
    ("model.dropout=1.0", "model.dropout"),
    ("model.pooling=median", "model.pooling"),
    ("model.head=attention", "model.head"),
    ("model.leaky_alpha=2", "model.leaky_alpha"),
    ("model.batch_norm=maybe", "model.batch_norm"),
    ("train.lr_schedule=step", "train.lr_schedule"),
    ("diagnostics.probe_size=0", "diagnostics.probe_size"),
    ("baseline.min_lift=3", "baseline.min_lift"),
])
def test_bad_control_is_rejected_with_its_field_name(override, field):
    with pytest.raises(ConfigError, match=field):
        load_config("image", overrides=[override])


@pytest.mark.parametrize("cfg", [
    ModelConfig(activation="leaky_relu", leaky_alpha=0.2, batch_norm=True, pooling="average", head="global_average"),
    ModelConfig(activation="gelu", initializer="glorot_uniform", l1=1e-4, l2=1e-3, dropout=0.0),
    ModelConfig(activation="tanh", initializer="lecun_normal", blocks=3, filters=4),
])
def test_cnn_builds_from_every_control(cfg):
    model = build_cnn((8, 8, 1), 10, cfg)
    out = model(np.ones((2, 8, 8, 1), "float32"))
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out.numpy().sum(axis=1), 1.0, rtol=1e-5)
    names = [layer.name for layer in model.layers]
    assert ("block1_bn1" in names) is cfg.batch_norm
    assert ("global_average" in names) is (cfg.head == "global_average")
    assert ("dropout" in names) is (cfg.dropout > 0)
    assert len(model.losses) == (0 if cfg.l1 == cfg.l2 == 0 else 2 * cfg.blocks + 1)
    if cfg.activation == "leaky_relu":
        assert model.get_layer("block1_act1").get_config()["alpha"] == pytest.approx(0.2)
    pool = model.get_layer("block1_pool")
    assert isinstance(pool, tf.keras.layers.AveragePooling2D if cfg.pooling == "average" else tf.keras.layers.MaxPooling2D)


def test_helpers():
    assert isinstance(kernel_initializer("he_uniform", 1), tf.keras.initializers.HeUniform)
    assert kernel_regularizer(0.0, 0.0) is None
    assert configured_cures(ModelConfig(dropout=0.3, l2=0.01)) == ["dropout 0.3", "L2 0.01", "early stopping"]
