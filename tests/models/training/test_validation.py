import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.training.validation import split_by_time, split_dataset, split_indices
from edgeflow.config import ConfigError, load_config


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


def test_split_by_time_holds_out_the_latest_windows_with_a_gap():
    window, horizon = 4, 2
    steps = np.random.default_rng(0).permutation(np.arange(window, 104))  # first target step of 100 windows
    fit, held = split_by_time(steps, 0.1, window, horizon)
    assert len(held) == 10 and steps[held].min() == steps.max() - 9  # the latest 10 windows
    # No fitted window's target (steps s .. s+H-1) reaches the first input row of any validation window.
    assert (steps[fit] + horizon - 1 < steps[held].min() - window).all()
    assert len(fit) == 100 - 10 - (window + horizon - 1)  # only the gap is dropped


def test_split_by_time_of_no_windows_is_empty():
    fit, held = split_by_time(np.zeros(0, np.int64), 0.1, 4, 2)
    assert fit.size == held.size == 0
