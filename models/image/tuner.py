"""The TFX Tuner's tuner_fn for the image CNN: KerasTuner random search over the model controls.

The search space (:data:`SEARCH_SPACE`) covers the shared controls; every other field keeps the
configured value. The best values go to the Trainer as the Tuner's ``best_hyperparameters``,
and ``run_fn`` applies them with :func:`apply_hyperparameters`. The budget is small by default
(``tuning.trials`` trials of ``tuning.epochs`` epochs each) and tuning is off unless
``tuning.enabled``.
"""
from __future__ import annotations

import logging
from dataclasses import replace

import keras_tuner as kt
import tensorflow_transform as tft
from tfx import v1 as tfx

from edgeflow.config import ImageConfig, ModelConfig, TrainConfig, TuningConfig, from_dict

log = logging.getLogger("edgeflow.train")

SEARCH_SPACE = {
    "activation": ["relu", "leaky_relu", "elu"],  # export.target=edgetpu: EDGETPU_SEARCH's instead
    "initializer": ["he_normal", "glorot_uniform"],
    "dropout": [0.0, 0.25, 0.5],
    "l2": [0.0, 1e-4, 1e-3],
    "batch_norm": [False, True],
}
EDGETPU_SEARCH = {"activation": ["relu", "prelu"]}  # what the Edge TPU runs (no LeakyRelu, no Elu)


def hyperparameters(edgetpu: bool = False) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    for name, values in {**SEARCH_SPACE, **(EDGETPU_SEARCH if edgetpu else {})}.items():
        if values == [False, True]:
            hp.Boolean(name)
        else:
            hp.Choice(name, values)
    return hp


def apply_hyperparameters(cfg: ModelConfig, values: dict) -> ModelConfig:
    """`cfg` with the searched fields replaced by `values` (a KerasTuner ``HyperParameters.values``)."""
    return replace(cfg, **{k: v for k, v in values.items() if k in SEARCH_SPACE})


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    from edgeflow.models.image.model import build_cnn
    from edgeflow.models.image.trainer import compile_model, fit_and_validation

    cc = fn_args.custom_config
    image, model_cfg, train = (from_dict(ImageConfig, cc["image"]), from_dict(ModelConfig, cc["model"]),
                               from_dict(TrainConfig, cc["train"]))
    tuning = from_dict(TuningConfig, cc["tuning"])
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_ds, validation_ds = fit_and_validation(fn_args.train_files, fn_args.data_accessor, tft_output, train)
    shape, classes = (image.size, image.size, image.channels), len(cc["class_names"])

    def build(hp):
        return compile_model(build_cnn(shape, classes, apply_hyperparameters(model_cfg, hp.values)), train)

    tuner = kt.RandomSearch(build, objective="val_accuracy", max_trials=tuning.trials,
                            hyperparameters=hyperparameters(cc.get("edgetpu", False)), directory=fn_args.working_dir,
                            project_name="image_cnn", seed=train.seed, overwrite=True)
    log.info("  tuning: %d trials x %d epochs over %s", tuning.trials, tuning.epochs, ", ".join(SEARCH_SPACE))
    return tfx.components.TunerFnResult(
        tuner=tuner, fit_kwargs={"x": train_ds, "validation_data": validation_ds, "epochs": tuning.epochs, "verbose": 0})
