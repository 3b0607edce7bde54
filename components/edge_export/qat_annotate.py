"""Quantization-aware training for models with layers TFMOT's 8-bit registry does not list.

``tfmot.quantization.keras.quantize_model`` refuses a whole model when one layer is not in its
registry, even a weightless one such as the image CNN's ``Subtract`` (``model.center``). Such a
layer has nothing to fake-quantize but its output, so it is annotated with :class:`OutputOnly`, an
8-bit moving-average quantizer on the output (what TFMOT itself does for ``Add``), and the int8
converter gets a range for every tensor. A layer with weights that the registry does not list
(the forecaster's LSTM and its frozen ridge head), or a layer with several outputs (its Holt-Winters
anchor, which a wrapper's single output quantizer cannot cover), is left as it is: QAT fine-tunes it in
float and the int8 converter calibrates it as in post-training quantization.

The forecaster with a Holt-Winters anchor (:func:`holds_anchor`) gets QAT on its RNN correction only:
its trainable layers that the registry lists (the correction's Dense head). Its anchor, ridge heads and
range switch are frozen NumPy-fitted maps that slice one window many ways; annotating their weightless
layers made TF 2.16's QAT converter fail ("quantization parameters violate the same scale constraint"
on a slice of the window), so they stay unannotated and the converter calibrates them.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantize_registry

keras = tf.keras
q = tfmot.quantization.keras


class OutputOnly(q.QuantizeConfig):
    """Quantize a weightless layer's output to 8 bits (asymmetric, per tensor); nothing else."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

    def get_config(self):
        return {}


def holds_anchor(model: keras.Model) -> bool:
    """Whether `model` is a forecaster with the in-graph Holt-Winters anchor (see the module doc)."""
    from edgeflow.models.sequence.smoothing import HoltWintersAnchor

    return any(isinstance(layer, HoltWintersAnchor) for layer in model.layers)


def annotate(model: keras.Model) -> keras.Model:
    """`model` with its layers annotated for QAT: registry layers as TFMOT would, weightless
    unlisted layers with :class:`OutputOnly`, unlisted layers with weights not at all; in a forecaster
    with the Holt-Winters anchor only the RNN correction's registry layers (see the module doc). The annotated model shares `model`'s weights."""
    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    correction_only = holds_anchor(model)

    def annotate_layer(layer):
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        if correction_only and not (layer.trainable and layer.weights and registry.supports(layer)):
            return layer  # the forecaster's anchor, heads and switch: calibrated by the converter
        if registry.supports(layer):
            return q.quantize_annotate_layer(layer)
        if layer.weights or isinstance(layer.output, (list, tuple)):
            return layer  # an LSTM, or the two-output Holt-Winters anchor: float in QAT, calibrated by the converter
        return q.quantize_annotate_layer(layer, quantize_config=OutputOnly())

    return keras.models.clone_model(model, clone_function=annotate_layer)


def quantize_aware(model: keras.Model, scheme=None) -> keras.Model:
    """The QAT model of `model` (TFMOT's default 8-bit scheme, or `scheme`), ready to fine-tune."""
    with q.quantize_scope({"OutputOnly": OutputOnly}):
        annotated = annotate(model)
        return q.quantize_apply(annotated, scheme) if scheme is not None else q.quantize_apply(annotated)
