"""TFLite variants of a trained Keras model: a small registry of recipes, pure functions.

A recipe is (TFMOT steps that fine-tune a copy of the model, then a TFLite quantization):

=================  ===================================================  ============
variant            TFMOT                                                TFLite
=================  ===================================================  ============
float32            -                                                    float32
float16            -                                                    float16 weights
dynamic            -                                                    int8 weights, float activations
int8               -                                                    full int8 (PTQ), int8/uint8 in/out
int16x8            -                                                    int16 activations, int8 weights (PTQ), int16 in/out
qat_int8           quantize_apply + fine-tune (see qat_annotate)        full int8
pruned_int8        prune_low_magnitude + fine-tune, strip_pruning       full int8
clustered_int8     cluster_weights + fine-tune, strip_clustering        full int8
pqat_int8          pruning, then pruning-preserving QAT                 full int8
cqat_int8          clustering, then cluster-preserving QAT              full int8
=================  ===================================================  ============

Every variant is converted with a static batch of 1 (``(1, H, W, C)`` or ``(1, W, F)``): the Edge
TPU needs static shapes and a device runs one input at a time. Full-integer variants (int8 and
int16x8) are calibrated with a representative dataset of training inputs; int16x8 keeps 16-bit
activations where 8 bits lose the signal (a forecaster's small corrections to a large level). The fine-tuning loss is the task's
(``settings["loss"]``: cross-entropy, MSE or the YOLO loss). A sequence model is trained on
standardized windows; ``settings["wrap"]`` puts that standardization (and, for a forecaster, its
inverse on the output) around it in the graph after the TFMOT steps, so the .tflite takes raw
windows. These functions run inside a child process (see :mod:`edgeflow.components.edge_export.convert`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import tensorflow as tf

from edgeflow import EdgeflowError
from edgeflow.edge.model_file import strip_tensor_names

keras = tf.keras


class ConversionError(EdgeflowError):
    """A variant could not be built or converted."""


@dataclass(frozen=True)
class Recipe:
    steps: Tuple[str, ...]  # TFMOT steps in order: "prune", "cluster", "qat", "pqat", "cqat"
    quantization: str  # "none", "float16", "dynamic", "int8" or "int16x8"


RECIPES = {
    "float32": Recipe((), "none"),
    "float16": Recipe((), "float16"),
    "dynamic": Recipe((), "dynamic"),
    "int8": Recipe((), "int8"),
    "int16x8": Recipe((), "int16x8"),
    "qat_int8": Recipe(("qat",), "int8"),
    "pruned_int8": Recipe(("prune",), "int8"),
    "clustered_int8": Recipe(("cluster",), "int8"),
    "pqat_int8": Recipe(("prune", "pqat"), "int8"),
    "cqat_int8": Recipe(("cluster", "cqat"), "int8"),
}


def fine_tune_loss(spec: dict):
    """The task's loss from its spec: ``{"kind": "sparse_categorical_crossentropy" | "mse" | "yolo", ...}``."""
    kind = spec.get("kind", "sparse_categorical_crossentropy")
    if kind == "mse":
        return keras.losses.MeanSquaredError()
    if kind == "yolo":
        from edgeflow.models.detection.loss import YoloLoss

        return YoloLoss(np.asarray(spec["anchors"], np.float32), spec["lambda_coord"], spec["lambda_noobj"],
                        spec["box_loss"], spec.get("label_smoothing", 0.0))
    return keras.losses.SparseCategoricalCrossentropy()


def _fine_tune(model, x, y, settings: dict, callbacks=()):
    model.compile(optimizer=keras.optimizers.Adam(settings["fine_tune_learning_rate"]),
                  loss=fine_tune_loss(settings.get("loss", {})))
    model.fit(x, y, epochs=settings["fine_tune_epochs"], batch_size=settings.get("batch_size", 32),
              verbose=0, callbacks=list(callbacks))
    return model


def prunable(layer) -> bool:
    """A layer that pruning wraps: trainable and in TFMOT's pruning registry (the forecaster's own layers,
    weightless or frozen, are left as they are; ``prune_low_magnitude`` refuses a model holding them)."""
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    return layer.trainable and not isinstance(layer, keras.layers.InputLayer) and PruneRegistry.supports(layer)


def apply_step(model, step: str, x: np.ndarray, y: np.ndarray, settings: dict):
    """One TFMOT step on `model` (fine-tuned on x (N, ...), y (N, ...) with the task's loss); returns the plain model."""
    import tensorflow_model_optimization as tfmot

    from edgeflow.components.edge_export.qat_annotate import quantize_aware

    q = tfmot.quantization.keras
    if step == "qat":
        return _fine_tune(quantize_aware(model), x, y, settings)
    if step == "prune":
        schedule = tfmot.sparsity.keras.ConstantSparsity(settings["prune_sparsity"], begin_step=0, frequency=10)
        pruned = keras.models.clone_model(model, clone_function=lambda layer: (
            tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule) if prunable(layer) else layer))
        _fine_tune(pruned, x, y, settings, [tfmot.sparsity.keras.UpdatePruningStep()])
        return tfmot.sparsity.keras.strip_pruning(pruned)
    if step == "cluster":
        clustered = tfmot.clustering.keras.cluster_weights(
            model, number_of_clusters=settings["cluster_count"],
            cluster_centroids_init=tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS)
        return tfmot.clustering.keras.strip_clustering(_fine_tune(clustered, x, y, settings))
    if step in ("pqat", "cqat"):
        if step == "pqat":
            scheme = q.collab_opts.Default8BitPrunePreserveQuantizeScheme()
        else:  # the public API exports only the pruning scheme in TFMOT 0.8
            from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (
                default_8bit_cluster_preserve_quantize_scheme as cqat)
            scheme = cqat.Default8BitClusterPreserveQuantizeScheme()
        return _fine_tune(quantize_aware(model, scheme), x, y, settings)
    raise ConversionError(f"unknown optimization step {step!r}")


def wrap_standardization(model, wrap: dict):
    """(B, W, F) raw -> standardize with wrap["mean"], wrap["std"] (F,) -> `model` -> for a forecaster
    (``output_scale``/``output_offset`` set) y * scale + offset, back in the target's units."""
    inputs = keras.Input(shape=model.input_shape[1:], name="window")
    std = np.asarray(wrap["std"], np.float32)
    x = keras.layers.Normalization(axis=-1, mean=wrap["mean"], variance=(std ** 2).tolist(),
                                   name="standardize")(inputs)
    out = model(x)
    if "output_scale" in wrap:
        out = keras.layers.Rescaling(wrap["output_scale"], wrap["output_offset"], name="to_target_units")(out)
    return keras.Model(inputs, out, name=f"{model.name}_raw")


def set_integer_form(model, on: bool) -> None:
    """Sets ``split_for_int8`` on every layer of `model` that has it (the forecaster's Holt-Winters anchor and
    ridge head): their constant matrices as two int8-exact parts, for a file with int8 weights; same values."""
    for layer in model.submodules:
        if hasattr(layer, "split_for_int8"):
            layer.split_for_int8 = on


def raw_inputs(x: np.ndarray, wrap: dict | None) -> np.ndarray:
    """Standardized training inputs back to raw values (the wrapped model's input domain)."""
    if not wrap:
        return x
    return (x * np.asarray(wrap["std"], np.float32) + np.asarray(wrap["mean"], np.float32)).astype(np.float32)


def to_tflite(model, quantization: str, representative: np.ndarray, input_name: str = "image",
              integer_io: str = "int8") -> bytes:
    """Keras model -> .tflite bytes with a static batch of 1: (1, H, W, C) or (1, W, F).

    A full-int8 file takes and returns `integer_io` ("int8", or "uint8", which the Edge TPU
    toolchain's examples use: the converter adds the uint8 <-> int8 QUANTIZE ops at the ends);
    an int16x8 file takes and returns int16 (symmetric: zero point 0). Internal tensor names and
    calibration min/max are dropped (:func:`edgeflow.edge.model_file.strip_tensor_names`)."""
    shape = (1,) + tuple(model.input_shape[1:])
    set_integer_form(model, quantization in ("dynamic", "int8", "int16x8"))  # every recipe with int8 weights
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32, name=input_name))
    # The converter saves its trackable object as a SavedModel first. Given the Keras model, that
    # traces every layer's call functions (Keras' own serialization: about 25 s for the digits CNN on
    # a loaded 2-core machine); a bare tf.Module holding the same variables gives the identical file in ~1 s.
    variables = tf.Module(name="variables")
    variables.all = list(model.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], variables)
    if quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization in ("int8", "int16x8"):
        if len(representative) == 0:
            raise ConversionError("the representative dataset is empty; full-integer quantization needs "
                                  "transformed training examples (check the train split and export.representative_samples)")

        def samples():
            for x in representative:
                yield [x[None].astype(np.float32)]

        converter.representative_dataset = samples
        if quantization == "int16x8":  # int16 activations and in/out, int8 weights; no Edge TPU or uint8 form
            converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int16
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if integer_io not in ("int8", "uint8"):
                raise ConversionError(f"integer input type {integer_io!r} is not supported; use int8 or uint8")
            converter.inference_input_type = converter.inference_output_type = getattr(tf, integer_io)
    try:
        flatbuffer = converter.convert()
    except Exception as err:  # noqa: BLE001 - the converter raises many types; keep its first error line
        raise ConversionError(f"the TFLite converter rejected the model ({converter_error_line(err)}); "
                              "replace the layer it names or drop this variant from export.variants") from None
    return strip_tensor_names(flatbuffer)


def converter_error_line(err: BaseException) -> str:
    """The first line of a converter error that names an op or says what failed."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip()[:300]
    return (lines[0] if lines else err.__class__.__name__)[:300]


def build_variant(model, name: str, x_train: np.ndarray, y_train: np.ndarray, settings: dict) -> bytes:
    """The .tflite bytes of variant `name` of `model` (not changed: steps work on a copy)."""
    if name not in RECIPES:
        raise ConversionError(f"unknown variant {name!r}; choose from {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    if recipe.steps:
        tf.keras.utils.set_random_seed(settings.get("seed", 42))
        trained, model = model, keras.models.clone_model(model)  # a copy with the trained weights
        model.set_weights(trained.get_weights())
    for step in recipe.steps:
        try:
            model = apply_step(model, step, x_train, y_train, settings)
        except (ValueError, RuntimeError, TypeError) as err:
            first = str(err).strip().splitlines()[0].split(". ")[0][:200] if str(err).strip() else err.__class__.__name__
            raise ConversionError(f"TFMOT step {step!r} cannot handle this model ({first}); "
                                  "drop this variant from export.variants") from None
    wrap = settings.get("wrap")
    if wrap:
        model = wrap_standardization(model, wrap)
    representative = raw_inputs(x_train[: settings.get("representative_samples", 200)], wrap)
    return to_tflite(model, recipe.quantization, representative, settings.get("input_name", "image"),
                     settings.get("integer_io", "int8"))
