"""The validation hold-out: the examples early stopping and the LR schedule watch.

Training callbacks that watch ``val_loss`` choose the model (which epoch's weights, when to
stop, when to lower the learning rate). If they watched the eval split, the Evaluator would
score the model on data that helped choose it, and its metrics would be optimistic. So every
trainer holds out every k-th example of the *train* split (k = round(1 / fraction), in the
split's file order, so the hold-out is the same on every run of the same data) and the eval
split is seen only by the Evaluator.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def stride(fraction: float) -> int:
    """Every `stride(fraction)`-th example is held out; at least every 2nd, for fractions up to 0.5."""
    return max(2, int(round(1.0 / fraction)))


def split_indices(count: int, fraction: float) -> Tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices into `count` examples."""
    k = stride(fraction)
    held = np.arange(count) % k == k - 1
    return np.nonzero(~held)[0], np.nonzero(held)[0]


def split_dataset(examples, fraction: float):
    """An unbatched, unshuffled tf.data.Dataset -> (fit, validation) datasets, same rule as above."""
    k = stride(fraction)
    indexed = examples.enumerate()
    pick = lambda held: indexed.filter(lambda i, _: (i % k == k - 1) == held).map(lambda _, ex: ex)  # noqa: E731
    return pick(False), pick(True)
