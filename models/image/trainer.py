"""The TFX Trainer's run_fn for the image pipeline: train the CNN, export for serving.

The exported SavedModel carries the Transform graph and two signatures:

* ``serving_default``: ``image_bytes`` (B,) encoded PNG/JPEG -> ``probabilities`` (B, C),
  ``class_id`` (B,), ``class_name`` (B,). The ``_bytes`` suffix lets TF Serving's REST API
  take base64 (``{"b64": ...}``).
* ``serving_examples``: serialized tf.Examples -> ``probabilities``; TFMA evaluates with it.
* ``classify``: serialized tf.Examples ``inputs`` -> ``classes`` (B, C) names, ``scores`` (B, C);
  a classification signature, so TF Serving's ``Classify`` RPC accepts it.

Beside it go TF Serving warm-up records (``assets.extra/``), see ``edgeflow.serving.export``.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from edgeflow.config import AugmentConfig, DiagnosticsConfig, ImageConfig, ModelConfig, TrainConfig, from_dict
from edgeflow.models.controls import configured_cures
from edgeflow.models.features import IMAGE_FEATURE, IMAGE_KEY, LABEL_KEY
from edgeflow.models.image.augment import augment_dataset, build_augmenter, describe
from edgeflow.models.image.model import build_classifier
from edgeflow.models.training.skeleton import TrainingTask, make_optimizer, train
from edgeflow.models.training.validation import split_dataset

log = logging.getLogger("edgeflow.train")


def _dataset(files, data_accessor, tf_transform_output, batch_size: int):
    """(B, H, W, C) transformed images and (B,) labels, in file order."""
    return data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=LABEL_KEY, num_epochs=1, shuffle=False),
        tf_transform_output.transformed_metadata.schema,
    ).map(lambda features, label: (features[IMAGE_FEATURE], label))


SHUFFLE_BUFFER = 10_000  # examples at most; the digits train split fits whole
SHUFFLE_BUFFER_BYTES = 256 * 2**20  # and at most this many bytes of images


def shuffle_buffer_size(image_shape, dtype_size: int = 4) -> int:
    """Examples the fit shuffle holds: as many (H, W, C) images of `dtype_size`-byte values as fit in
    256 MB, at most 10,000 (2,427 images of 96x96x3 float32, 445 of 224x224x3); an unknown dimension counts as 1."""
    example_bytes = int(np.prod([d or 1 for d in image_shape])) * dtype_size
    return max(1, min(SHUFFLE_BUFFER, SHUFFLE_BUFFER_BYTES // example_bytes))


def fit_and_validation(files, data_accessor, tf_transform_output, train: TrainConfig):
    """The train split -> (fit, validation) batched datasets: the validation hold-out of
    ``train.validation_fraction`` (models/training/validation.py) is what early stopping watches;
    the fit examples are shuffled in a buffer bounded by bytes (:func:`shuffle_buffer_size`)."""
    whole = _dataset(files, data_accessor, tf_transform_output, train.batch_size).unbatch()
    fit, validation = split_dataset(whole, train.validation_fraction)
    images = whole.element_spec[0]
    buffer = shuffle_buffer_size(images.shape, images.dtype.size)
    log.info("  shuffle buffer: %d examples of %s %s", buffer, "x".join(map(str, images.shape)), images.dtype.name)
    return (fit.shuffle(buffer, seed=train.seed).batch(train.batch_size),
            validation.batch(train.batch_size))


def export_signatures(model, tf_transform_output, class_names):
    model.tft_layer = tf_transform_output.transform_features_layer()
    names = tf.constant(list(class_names))
    raw_spec = tf_transform_output.raw_feature_spec()
    image_shape = raw_spec[IMAGE_KEY].shape  # [] or [1], as the inferred schema says

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_images(image_bytes):
        raw = tf.reshape(image_bytes, [-1] + list(image_shape))
        probs = model(model.tft_layer({IMAGE_KEY: raw})[IMAGE_FEATURE], training=False)
        ids = tf.argmax(probs, axis=-1)
        return {"probabilities": probs, "class_id": ids, "class_name": tf.gather(names, ids)}

    def example_probabilities(examples):  # (B,) serialized tf.Examples -> (B, C)
        parsed = tf.io.parse_example(examples, {IMAGE_KEY: raw_spec[IMAGE_KEY]})
        return model(model.tft_layer(parsed)[IMAGE_FEATURE], training=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        return {"probabilities": example_probabilities(examples)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        scores = example_probabilities(inputs)
        return {"classes": tf.tile(names[None], [tf.shape(scores)[0], 1]), "scores": scores}

    return {"serving_default": serve_images, "serving_examples": serve_examples, "classify": classify}


def finish_for_serving(model_dir: str, image: ImageConfig) -> None:
    """Marks the ``classify`` signature for TF Serving and writes warm-up requests beside the model."""
    from edgeflow.serving.export import blank_png, mark_classify_signatures, warmup_record, write_warmup_requests

    mark_classify_signatures(model_dir, ["classify"])
    png = np.array([blank_png(image.size, image.channels)], dtype=object)
    write_warmup_requests(model_dir, [warmup_record("", "serving_default", {"image_bytes": png})])


def compile_model(model, train: TrainConfig):
    """Adam (with ``train.clipnorm``), cross-entropy and accuracy; returns `model`."""
    compile_classifier(model, make_optimizer(train))
    return model


def compile_classifier(model, optimizer) -> None:
    model.compile(optimizer=optimizer, loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


class ImageTask(TrainingTask):
    """The CNN classifier's hooks for the training skeleton (models/training/skeleton.py).

    `fn_args` (TFX's FnArgs) gives the transformed train split and the Transform graph; a test may
    leave it None and pass `fit`/`validation` datasets of (B, H, W, C) images and (B,) labels instead.
    `augment` (off when None) changes the fit batches only (models/image/augment.py), never the model.
    """

    name = "image"

    def __init__(self, image: ImageConfig, model_cfg: ModelConfig, class_names, fn_args=None,
                 fit=None, validation=None, augment: AugmentConfig = AugmentConfig(enabled=False)):
        self.image, self.model_cfg, self.class_names, self.fn_args = image, model_cfg, list(class_names), fn_args
        self._given = (fit, validation)
        self.augment = augment
        self.tft_output = tft.TFTransformOutput(fn_args.transform_output) if fn_args is not None else None

    def datasets(self, train: TrainConfig):
        if self.fn_args is None:
            fit, validation = self._given
        else:
            fit, validation = fit_and_validation(self.fn_args.train_files, self.fn_args.data_accessor,
                                                 self.tft_output, train)
        log.info("  %s", describe(self.augment))
        return augment_dataset(fit, build_augmenter(self.augment, train.seed)), validation

    @property
    def pretrained(self) -> bool:
        """A backbone with pretrained weights: frozen for the first stage, its top fine-tuned in the second."""
        return self.model_cfg.backbone != "cnn" and self.model_cfg.weights is not None

    def build_model(self):
        model = build_classifier((self.image.size, self.image.size, self.image.channels), len(self.class_names),
                                 self.model_cfg)
        if self.pretrained:
            from edgeflow.models.image.backbone import freeze_backbone

            log.info("  %s backbone from %s weights: %d layers frozen while the new head trains", self.model_cfg.backbone,
                     self.model_cfg.weights, freeze_backbone(model))
        return model

    def fine_tune(self, model, train: TrainConfig):
        if not self.pretrained or not train.fine_tune_layers:
            return None
        from edgeflow.models.image.backbone import unfreeze_top

        count = unfreeze_top(model, train.fine_tune_layers)
        return f"fine-tuning the top {train.fine_tune_layers} layers of the backbone ({count} with weights, batch norm kept frozen)"

    def advice(self):
        if self.model_cfg.backbone == "cnn":
            return {}
        # A backbone has its own batch norm and activations; the cnn's controls (model.batch_norm,
        # model.activation, model.initializer) do not shape it.
        return {"vanishing": ("pretrained weights (model.weights=imagenet or a weights file), or fewer unfrozen "
                              "layers (train.fine_tune_layers); the backbone has batch norm already"),
                "exploding": "clip gradients (train.clipnorm=1.0) or lower train.learning_rate and train.fine_tune_lr",
                "dead": "use pretrained weights (model.weights) or lower train.learning_rate and train.fine_tune_lr"}

    def compile(self, model, optimizer):
        compile_classifier(model, optimizer)

    def cures(self):
        return configured_cures(self.model_cfg)

    def export(self, model, fn_args):
        with tf.io.gfile.GFile(f"{fn_args.model_run_dir}/labels.txt", "w") as f:
            f.write("\n".join(self.class_names) + "\n")
        model.save(fn_args.serving_model_dir, save_format="tf",
                   signatures=export_signatures(model, self.tft_output, self.class_names))
        finish_for_serving(fn_args.serving_model_dir, self.image)


def run_fn(fn_args: tfx.components.FnArgs):
    cc = fn_args.custom_config
    image, model_cfg, train_cfg = (from_dict(ImageConfig, cc["image"]), from_dict(ModelConfig, cc["model"]),
                                   from_dict(TrainConfig, cc["train"]))
    backup_dir = cc.get("backup_dir")
    if fn_args.hyperparameters:  # the Tuner's best values replace the configured controls
        from edgeflow.models.image.tuner import apply_hyperparameters

        values = fn_args.hyperparameters.get("values", {})
        model_cfg = apply_hyperparameters(model_cfg, values)
        if backup_dir:  # another tuned model must not restore these weights
            backup_dir = os.path.join(backup_dir, "tuned-" + "-".join(f"{k}={v}" for k, v in sorted(values.items())))
        log.info("  tuned: %s", ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    augment = from_dict(AugmentConfig, cc.get("augment", {"enabled": False}))
    train(ImageTask(image, model_cfg, cc["class_names"], fn_args, augment=augment), fn_args, train_cfg,
          from_dict(DiagnosticsConfig, cc.get("diagnostics", {})), backup_dir)
