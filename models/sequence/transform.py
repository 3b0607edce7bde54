"""Transform's preprocessing_fn for sequences: standardize windows with train-split statistics.

TFX's Transform analyzes only the train split, so the mean and standard deviation of every
feature (over all steps of all train windows) never see an eval value. The exported model
carries this graph: a serving request sends the raw window.

custom_config: ``features`` (F), ``task``, and for forecast ``target_index`` (the
forecast column among the F features).
"""
import tensorflow as tf
import tensorflow_transform as tft

from edgeflow.models.features import LABEL_KEY, TARGET_KEY, TIME_KEY, WINDOW_KEY
from edgeflow.models.features import TARGET_FEATURE, TARGET_MEAN, TARGET_STD, WINDOW_FEATURE



def standardize_steps(window: tf.Tensor, features: int):
    """(B, W * F) -> ((B, W * F) standardized per feature, mean (F,), std (F,))."""
    steps = tf.reshape(window, [-1, features])  # (B * W, F)
    mean = tft.mean(steps, reduce_instance_dims=False)
    std = tf.maximum(tf.sqrt(tft.var(steps, reduce_instance_dims=False)), 1e-6)
    return tf.reshape((steps - mean) / std, tf.shape(window)), mean, std


def preprocessing_fn(inputs, custom_config):
    window = tf.cast(inputs[WINDOW_KEY], tf.float32)
    norm, mean, std = standardize_steps(window, custom_config["features"])
    outputs = {WINDOW_FEATURE: norm}
    if custom_config["task"] == "forecast":
        t = custom_config["target_index"]
        ones = tf.ones_like(window[:, 0])  # (B,): the statistics per example, for the serving graph
        outputs[TARGET_MEAN], outputs[TARGET_STD] = ones * mean[t], ones * std[t]
        if TARGET_KEY in inputs:
            outputs[TARGET_FEATURE] = (tf.cast(inputs[TARGET_KEY], tf.float32) - mean[t]) / std[t]
        if TIME_KEY in inputs:  # the Trainer holds out the latest train windows for validation
            outputs[TIME_KEY] = inputs[TIME_KEY]
    elif LABEL_KEY in inputs:
        outputs[LABEL_KEY] = inputs[LABEL_KEY]
    return outputs
