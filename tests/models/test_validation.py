import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.validation import split_dataset, split_indices
from edgeflow.pipelines.config import ConfigError, load_config


@pytest.mark.parametrize("count,fraction", [(100, 0.1), (37, 0.25), (5, 0.5), (1, 0.1)])
def test_split_indices_partition_the_examples(count, fraction):
    fit, held = split_indices(count, fraction)
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(count))
    assert not set(fit) & set(held)
    assert len(held) == count // round(1 / fraction)


def test_split_dataset_holds_out_the_same_examples_as_split_indices():
    fit, held = split_dataset(tf.data.Dataset.range(50), 0.2)
    fit_i, held_i = split_indices(50, 0.2)
    assert list(fit.as_numpy_iterator()) == fit_i.tolist()
    assert list(held.as_numpy_iterator()) == held_i.tolist()


def test_validation_fraction_is_checked():
    with pytest.raises(ConfigError, match="train.validation_fraction"):
        load_config("image", overrides=["train.validation_fraction=0.9"])
