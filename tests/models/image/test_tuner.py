"""The tuner's search space maps onto the model controls."""
import numpy as np

from edgeflow.models.image.model import build_cnn
from edgeflow.models.image.tuner import SEARCH_SPACE, apply_hyperparameters, hyperparameters
from edgeflow.config import ModelConfig


def test_every_point_of_the_space_builds_a_model():
    hp = hyperparameters()
    assert set(hp.values) == set(SEARCH_SPACE)
    cfg = apply_hyperparameters(ModelConfig(blocks=1, filters=4), {**hp.values, "activation": "elu",
                                                                   "batch_norm": True, "unrelated": 1})
    assert cfg.activation == "elu" and cfg.batch_norm and cfg.filters == 4
    model = build_cnn((8, 8, 1), 3, cfg)
    assert model(np.ones((2, 8, 8, 1), "float32")).shape == (2, 3)
    assert "block1_bn1" in [layer.name for layer in model.layers]
