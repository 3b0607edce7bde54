"""The validation hold-out: the examples early stopping and the LR schedule watch.

Training callbacks that watch ``val_loss`` choose the model (which epoch's weights, when to
stop, when to lower the learning rate). If they watched the eval split, the Evaluator would
score the model on data that helped choose it, and its metrics would be optimistic. So every
trainer holds out every k-th example of the *train* split (k = round(1 / fraction), in the
split's file order, so the hold-out is the same on every run of the same data) and the eval
split is seen only by the Evaluator.

Windows of one series overlap, so for forecasting the hold-out is the *latest* train windows
instead (:func:`split_by_time`), with a gap so that no fitted window's target reaches into a
validation window's input: the same rule the sequence ExampleGen uses between train and eval.
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


def split_by_time(target_steps: np.ndarray, fraction: float, window: int, horizon: int) -> Tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices of forecast windows by the row index of their first target step.

    Validation: the latest `fraction` of the windows (first target step >= cut). Fit: windows whose
    last target step comes before the first input step of every validation window
    (step + horizon <= cut - window); the windows in between are used by neither.
    """
    steps = np.asarray(target_steps).reshape(-1)
    if steps.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    cut = np.sort(steps)[int(len(steps) * (1.0 - fraction))] if len(steps) > 1 else steps[0] + 1
    return np.nonzero(steps + horizon <= cut - window)[0], np.nonzero(steps >= cut)[0]
