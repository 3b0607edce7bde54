"""A Keras Functional-API recurrent network for windows of a series or labelled sequences.

``layers`` stacked recurrent layers (``cell`` = lstm | gru | simple_rnn), each returning
sequences except the last, then dropout and a dense head:

* forecast: (B, W, F) -> ... -> (B, units) -> ``forecast`` (B, H), in normalized units, added to
  an anchor (a naive forecast). With ``inputs=seasonal_change`` the RNN reads only the last
  W - S steps, each with the target's change since one season (S steps) before, and its
  correction is in units of that change (see :func:`apply_seasonal_change`);
* classify: (B, W, F) -> bidirectional layers -> (B, 2 * units) -> ``probabilities`` (B, C).

``unroll=True`` by default: the window length is fixed anyway, and an unrolled GRU or
SimpleRNN converts to full-integer TFLite, which the looped form crashes (TF 2.16).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from edgeflow.config import SequenceConfig
from edgeflow.models.sequence.residual import REACHES, RangeSwitch, ResidualFeatures
from edgeflow.models.sequence.smoothing import HoltWintersAnchor

keras = tf.keras
layers = tf.keras.layers

CELLS = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}


def apply_recurrent(x, cell: str, units: int, return_sequences: bool, bidirectional: bool,
                    dropout: float, recurrent_dropout: float, unroll: bool, name: str):
    """(B, W, D) -> (B, W, U) when `return_sequences` else (B, U); U = 2 * units if bidirectional."""
    layer = CELLS[cell](units, return_sequences=return_sequences, dropout=dropout,
                        recurrent_dropout=recurrent_dropout, unroll=unroll, name=name)
    if bidirectional:
        layer = layers.Bidirectional(layer, name=f"{name}_bidirectional")
    return layer(x)


@tf.keras.utils.register_keras_serializable(package="edgeflow")
class TargetSteps(layers.Layer):
    """(B, W, F) -> (B, L): the target column's steps start .. start + length - 1, or (``repeat``) the
    step `start` repeated `length` times; a serializable stand-in for a slicing Lambda."""

    def __init__(self, start: int, length: int, target_index: int = 0, repeat: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.start, self.length, self.target_index, self.repeat = int(start), int(length), int(target_index), bool(repeat)

    def call(self, inputs):
        t, s = self.target_index, self.start
        if self.repeat:
            return tf.repeat(inputs[:, s:s + 1, t], self.length, axis=1)
        return inputs[:, s:s + self.length, t]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "length": self.length,
                "target_index": self.target_index, "repeat": self.repeat}


@tf.keras.utils.register_keras_serializable(package="edgeflow")
class RelativeToLast(layers.Layer):
    """(B, W, F) -> (B, W, F): each column minus its last value, so a level never seen in training
    (a shift after the train part) reaches the RNN as the same shapes it learned on."""

    def call(self, inputs):
        return inputs - inputs[:, -1:, :]


@tf.keras.utils.register_keras_serializable(package="edgeflow")
class PreciseDense(layers.Dense):
    """A Dense that a full-integer TFLite file can keep to about 1 part in 60,000: with ``split_for_int8``
    (set by EdgeExport before a conversion to int8 weights; not saved) it computes x @ high + x @ low + bias
    with kernel = high + low (``high`` on the kernel's 255-level grid, ``low`` the remainder, see
    :func:`edgeflow.models.sequence.smoothing.int8_split`), the same values as a Dense. The ridge head's
    fitted kernel mixes coefficients of very different sizes, which one int8 matrix would round away."""

    split_for_int8 = False

    def call(self, inputs):
        if not self.split_for_int8:
            return super().call(inputs)
        k = tf.convert_to_tensor(self.kernel)
        scale = tf.maximum(tf.reduce_max(tf.abs(k)), 1e-30) / 127.0
        high = tf.round(k / scale) * scale
        out = tf.matmul(inputs, high) + tf.matmul(inputs, k - high)
        return self.activation(out + self.bias) if self.use_bias else self.activation(out)


def anchor_forecast(inputs, cfg: SequenceConfig, horizon: int, target_index: int):
    """(B, W, F) -> (B, H): the naive forecast the head corrects: the last value or the value a season back."""
    w = inputs.shape[1]
    if cfg.anchor == "last":
        return TargetSteps(w - 1, horizon, target_index, repeat=True, name="last_value")(inputs)
    return TargetSteps(w - cfg.season, horizon, target_index, name="seasonal_value")(inputs)


def apply_seasonal_change(inputs, season: int, target_index: int, change_scale: float):
    """(B, W, F) -> (B, W - S, F + 1): the last W - S steps, each with the target's change since the same step
    one season (S steps) earlier, divided by `change_scale` (that change's train std, so it is O(1)).

    A series that repeats each season is nearly flat in this change; what is left (a slow trend,
    the day-to-day drift) is what a seasonal-naive forecast misses and the RNN must predict.
    """
    t = target_index
    now = layers.Cropping1D((season, 0), name="last_steps")(inputs)  # (B, W - S, F)
    before = layers.Cropping1D((0, season), name="season_before")(inputs)  # (B, W - S, F)
    if inputs.shape[-1] > 1:
        now_t = layers.Reshape((-1, 1))(TargetSteps(0, now.shape[1], t, name="target_now")(now))
        before_t = layers.Reshape((-1, 1))(TargetSteps(0, before.shape[1], t, name="target_before")(before))
    else:
        now_t, before_t = now, before
    change = layers.Subtract(name="seasonal_change")([now_t, before_t])  # (B, W - S, 1)
    change = layers.Rescaling(1.0 / change_scale, name="scaled_change")(change)
    return layers.Concatenate(name="values_and_change")([now, change])


def seasonal_change_scale(windows, season: int, target_index: int = 0) -> float:
    """The std of the target's change over one season inside (N, W, F) windows (NumPy): `change_scale`."""
    w = np.asarray(windows, np.float64)[:, :, target_index]
    return float(max((w[:, season:] - w[:, :-season]).std(), 1e-6))


def build_rnn(window: int, features: int, outputs: int, cfg: SequenceConfig, unroll: bool = True,
              target_index: int = 0, change_scale: float = 1.0, smoothing: dict = None,
              ridge: dict = None) -> keras.Model:
    """The network; its input is named ``window`` (the normalized Transform output it is fed).

    `outputs` is the horizon (forecast, linear head) or the number of classes (classify, softmax head).
    A forecaster's head adds its output to an anchor (``sequence.anchor``: the seasonal-naive or
    last-value forecast of the target column), so it learns the correction to a naive forecast
    (in standardized units, where the naive forecasts are computed the same way).
    `change_scale` (``inputs=seasonal_change``): the train std of the target's seasonal change in
    standardized units (:func:`seasonal_change_scale`); the head's output is multiplied by it.
    `smoothing` (``anchor=holt_winters``): the train split's Holt-Winters (:class:`Smoothing` as a dict);
    the anchor is its forecast from the window (models/sequence/smoothing.py) and the RNN also reads
    its one-step errors (scaled by `change_scale`), over the last ``sequence.rnn_steps`` rows only (default 2 S), with every value
    relative to the window's last one (:class:`RelativeToLast`).
    `ridge` (``ridge_head``, with ``anchor=holt_winters``): the two frozen linear heads over
    :class:`ResidualFeatures` (models/sequence/residual.py), ``long`` and ``short`` (each ``low``, ``high``,
    ``kernel``, ``bias``; the long head corrects the window's last value, the short head the anchor), of
    which :class:`RangeSwitch` (``switch``: ``low``, ``high``) picks one per window; the RNN's head then
    starts at zero and learns what is still left.
    """
    classify = cfg.task == "classify"
    change = not classify and cfg.inputs == "seasonal_change"
    inputs = keras.Input(shape=(window, features), name="window")  # (B, W, F)
    hw = ridge_out = None
    smoothed = not classify and cfg.anchor == "holt_winters"
    x = RelativeToLast(name="relative_to_last")(inputs) if smoothed else inputs
    x = apply_seasonal_change(x, cfg.season, target_index, change_scale) if change else x
    if smoothed:
        if smoothing is None:
            raise ValueError("anchor=holt_winters needs the train split's smoothing (fit_smoothing)")
        hw, raw_errors = HoltWintersAnchor(outputs, smoothing, target_index, name="holt_winters")(inputs)  # (B, H), (B, W, 1)
        if ridge is not None:  # each head's forecast: its base plus its correction (weights set below)
            last = TargetSteps(window - 1, outputs, target_index, repeat=True, name="last_value")(inputs)  # (B, H)
            heads = [layers.Add(name=f"{reach}_head_forecast")(
                [last if reach == "long" else hw,
                 apply_ridge_head(inputs, raw_errors, cfg.season, target_index, ridge[reach], outputs, reach)])
                for reach in REACHES]  # (B, H) each
            ridge_out = RangeSwitch(cfg.season, ridge["switch"]["low"], ridge["switch"]["high"], target_index,
                                    name="range_switch")([inputs, *heads])  # (B, H) the switched forecast
        errors = layers.Rescaling(1.0 / change_scale, name="scaled_errors")(raw_errors)
        errors = layers.Cropping1D((window - x.shape[1], 0), name="last_errors")(errors)
        x = layers.Concatenate(name="with_errors")([x, errors])  # (B, W', D + 1)
        recent = min(x.shape[1], cfg.rnn_steps or 2 * cfg.season)
        x = layers.Cropping1D((x.shape[1] - recent, 0), name="recent_steps")(x)  # (B, min(W', R), D + 1), R = 2 S by default
    for i in range(cfg.layers):
        x = apply_recurrent(x, cfg.cell, cfg.units, return_sequences=i < cfg.layers - 1,
                            bidirectional=classify and cfg.bidirectional, dropout=cfg.dropout,
                            recurrent_dropout=cfg.recurrent_dropout, unroll=unroll, name=f"{cfg.cell}{i + 1}")
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name="dropout")(x)
    if classify:
        out = layers.Dense(outputs, activation="softmax", name="probabilities")(x)  # (B, C)
    else:
        zero = "zeros" if ridge_out is not None else "glorot_uniform"  # the hybrid starts at the switched ridge heads
        out = layers.Dense(outputs, kernel_initializer=zero, name="forecast")(x)  # (B, H) a correction to the anchor
        if change:
            out = layers.Rescaling(change_scale, name="correction")(out)
        if hw is not None:
            out = layers.Add(name="anchored_forecast")([out, hw if ridge_out is None else ridge_out])
        elif cfg.anchor != "none":
            out = layers.Add(name="anchored_forecast")([out, anchor_forecast(inputs, cfg, outputs, target_index)])
    model = keras.Model(inputs, out, name=f"{cfg.cell}_{cfg.task}")
    for reach in REACHES if ridge_out is not None else ():
        model.get_layer(f"{reach}_ridge_correction").set_weights([np.asarray(ridge[reach]["kernel"], np.float32),
                                                                  np.asarray(ridge[reach]["bias"], np.float32)])
    return model


def apply_ridge_head(inputs, errors, season: int, target_index: int, head: dict, outputs: int, reach: str):
    """[(B, W, F) window, (B, W, 1) one-step errors] -> (B, H): a frozen ridge head (models/sequence/residual.py)
    over its `reach`'s features; `head` holds the clip bounds (None: unclipped) (its kernel and bias are set after build)."""
    feats = ResidualFeatures(season, target_index, head["low"], head["high"], reach,
                             name=f"{reach}_residual_features")([inputs, errors])  # (B, K)
    return PreciseDense(outputs, trainable=False, name=f"{reach}_ridge_correction")(feats)


def compile_rnn(model: keras.Model, task: str, learning_rate: float = 0.003, optimizer=None) -> keras.Model:
    """`optimizer` (default Adam at `learning_rate`); MSE with MAE (forecast) or cross-entropy with accuracy (classify)."""
    if task == "classify":
        loss, metrics = keras.losses.SparseCategoricalCrossentropy(), [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss, metrics = keras.losses.MeanSquaredError(), [keras.metrics.MeanAbsoluteError(name="mae")]
    model.compile(optimizer=optimizer or keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    return model
