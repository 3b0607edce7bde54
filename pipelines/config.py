"""One typed configuration tree for every pipeline: frozen dataclasses.

Loaded once, from defaults, then an optional YAML file, then ``--set a.b=value``
overrides (see :func:`load_config`). Every value is type-checked and range-checked
at load time, and a bad one is reported with its dotted field name.
TFX types are built from this tree only at the pipeline boundary.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Optional, Tuple

import yaml

from edgeflow import EdgeflowError

ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh")
INITIALIZERS = ("he_normal", "he_uniform", "glorot_uniform", "lecun_normal")
POOLINGS = ("max", "average")  # downsampling inside a block
HEADS = ("flatten", "global_average")  # how the last feature map becomes a vector
LR_SCHEDULES = ("constant", "plateau", "cosine")
DISTRIBUTE = ("auto", "none", "mirrored", "multi_worker")


class ConfigError(EdgeflowError):
    """A configuration value is missing, of the wrong type, or out of range."""


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{name} {message}")


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split; shared by every pipeline."""

    path: Optional[str] = None  # the input folder or file; None = the pipeline's bundled data set
    train_buckets: int = 4  # deterministic hash split (train:eval buckets)
    eval_buckets: int = 1
    max_bad_fraction: float = 0.05  # unreadable records are skipped; past this share the run stops
    pattern: Optional[str] = None  # under path, e.g. "span-{SPAN}/*/*": each run reads the newest span

    def __post_init__(self):
        _check(self.train_buckets >= 1, "train_buckets", "must be at least 1")
        _check(self.eval_buckets >= 1, "eval_buckets", "must be at least 1")
        _check(0.0 <= self.max_bad_fraction < 1.0, "max_bad_fraction", "must be in [0, 1)")


@dataclass(frozen=True)
class ImageConfig:
    """Image pipeline inputs: images are decoded and resized inside the graph."""

    size: int = 16  # images are resized to (size, size)
    channels: int = 1  # 1 = grayscale, 3 = RGB
    limit_per_class: Optional[int] = None  # bundled digits only: keep this many per class

    def __post_init__(self):
        _check(4 <= self.size <= 512, "size", "must be between 4 and 512")
        _check(self.channels in (1, 3), "channels", "must be 1 (grayscale) or 3 (RGB)")
        _check(self.limit_per_class is None or self.limit_per_class >= 2,
               "limit_per_class", "must be at least 2 (or null for all)")


def check_model_controls(cfg) -> None:
    """The controls every architecture shares (activation, initializer, L1/L2, dropout)."""
    _check(cfg.activation in ACTIVATIONS, "activation", f"must be one of {', '.join(ACTIVATIONS)}")
    _check(0.0 < cfg.leaky_alpha < 1.0, "leaky_alpha", "must be in (0, 1)")
    _check(cfg.initializer in INITIALIZERS, "initializer", f"must be one of {', '.join(INITIALIZERS)}")
    _check(cfg.l1 >= 0.0, "l1", "must be at least 0")
    _check(cfg.l2 >= 0.0, "l2", "must be at least 0")
    _check(0.0 <= cfg.dropout < 1.0, "dropout", "must be in [0, 1)")


@dataclass(frozen=True)
class ModelConfig:
    """A convolutional classifier: ``blocks`` x (conv, [bn], act, conv, [bn], act, pool), then a softmax head.

    Depth is ``blocks``, width is ``filters``; the controls (activation ... batch_norm) are the
    ones every architecture shares (see models/controls.py)."""

    blocks: int = 2
    filters: int = 32  # filters of the first block; each later block doubles them
    kernel_size: int = 3
    activation: str = "relu"
    leaky_alpha: float = 0.1  # negative slope of leaky_relu
    initializer: str = "he_normal"
    l1: float = 0.0  # weight penalties on every conv/dense kernel
    l2: float = 0.0
    dropout: float = 0.25  # before the softmax layer
    batch_norm: bool = False  # after every conv, before its activation
    pooling: str = "max"  # max | average: how each block halves the feature map
    head: str = "flatten"  # flatten | global_average: how the last feature map becomes a vector

    def __post_init__(self):
        _check(1 <= self.blocks <= 6, "blocks", "must be between 1 and 6")
        _check(self.filters >= 1, "filters", "must be at least 1")
        _check(self.kernel_size in (1, 3, 5, 7), "kernel_size", "must be 1, 3, 5 or 7")
        check_model_controls(self)
        _check(self.pooling in POOLINGS, "pooling", f"must be one of {', '.join(POOLINGS)}")
        _check(self.head in HEADS, "head", f"must be one of {', '.join(HEADS)}")


SEQUENCE_TASKS = ("forecast", "classify")
RNN_CELLS = ("lstm", "gru", "simple_rnn")
FORECAST_INPUTS = ("values", "seasonal_change")


@dataclass(frozen=True)
class SequenceConfig:
    """The sequence pipeline: windows of a CSV series (forecast) or labelled sequences (classify).

    forecast: each example is ``window`` rows of the value columns -> the next ``horizon``
    values of ``target``; train/eval split by time (eval is the last ``eval_fraction`` of the
    series, one window of rows between them). classify: one example per sequence id
    (``window`` steps of features) -> its label. Null columns mean "the bundled data's".
    """

    task: str = "forecast"
    window: Optional[int] = None  # input steps; null = 48 (forecast) or the sequences' length (classify)
    horizon: int = 6  # forecast: steps predicted
    season: int = 24  # forecast: steps per season, for the seasonal-naive baseline
    eval_fraction: float = 0.2  # share of the series (or of the sequence ids) held out for eval
    fill: str = "fail"  # forecast: missing steps in the series -> "fail" or "interpolate"
    limit: Optional[int] = None  # keep only the first N rows (forecast) or sequences (classify)
    time_column: Optional[str] = None  # forecast: timestamp column
    target: Optional[str] = None  # forecast: the value column to predict (default: the first)
    cell: str = "lstm"  # lstm | gru | simple_rnn
    units: int = 32
    layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True  # classify only; a forecaster reads the past forwards
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    anchor: str = "seasonal"  # forecast: the head corrects the seasonal-naive ("seasonal") or last-value ("last") forecast, or "none"
    inputs: str = "seasonal_change"  # forecast: the RNN reads "values", or "seasonal_change" (values + their change over one season, see models/rnn.py)
    max_baseline_ratio: float = 1.0  # blessed only when error < ratio x best baseline's (forecast) or accuracy > baseline's (classify)

    def __post_init__(self):
        _check(self.task in SEQUENCE_TASKS, "task", f"must be one of {', '.join(SEQUENCE_TASKS)}")
        _check(self.window is None or 2 <= self.window <= 1024, "window", "must be between 2 and 1024 (or null)")
        _check(1 <= self.horizon <= 256, "horizon", "must be between 1 and 256")
        _check(self.task == "classify" or self.horizon <= self.season <= self.steps, "season",
               f"must lie between horizon={self.horizon} and window={self.steps}, got {self.season} "
               "(the seasonal-naive baseline reads the value one season back from inside the window)")
        _check(0.05 <= self.eval_fraction <= 0.5, "eval_fraction", "must be in [0.05, 0.5]")
        _check(self.fill in ("fail", "interpolate"), "fill", "must be fail or interpolate")
        _check(self.limit is None or self.limit >= 10, "limit", "must be at least 10 (or null for all)")
        _check(self.cell in RNN_CELLS, "cell", f"must be one of {', '.join(RNN_CELLS)}")
        _check(1 <= self.units <= 1024, "units", "must be between 1 and 1024")
        _check(1 <= self.layers <= 4, "layers", "must be between 1 and 4")
        _check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        _check(0.0 <= self.recurrent_dropout < 1.0, "recurrent_dropout", "must be in [0, 1)")
        _check(self.anchor in ("seasonal", "last", "none"), "anchor", "must be seasonal, last or none")
        _check(self.inputs in FORECAST_INPUTS, "inputs", f"must be one of {', '.join(FORECAST_INPUTS)}")
        _check(self.task == "classify" or self.inputs != "seasonal_change" or self.season < self.steps, "inputs",
               f"is seasonal_change, which needs window > season; got window={self.steps} and season={self.season}; "
               "lengthen the window or set sequence.inputs=values")
        _check(0.0 < self.max_baseline_ratio <= 1.0, "max_baseline_ratio", "must be in (0, 1]")

    @property
    def steps(self) -> int:
        """The forecast window (classify resolves a null window from the data, see pipelines/sequence.py)."""
        return self.window or 48


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 0.003
    early_stopping_patience: int = 4
    validation_fraction: float = 0.1  # of the train split, held out for early stopping (models/validation.py)
    seed: int = 42
    lr_schedule: str = "plateau"  # constant | plateau (ReduceLROnPlateau on val_loss) | cosine decay
    resume: bool = True  # back up every epoch; a killed training resumes from its last epoch
    tensorboard: bool = True  # TensorBoard logs under <model run dir>/tensorboard
    clipnorm: Optional[float] = None  # clip each gradient's norm (a cure for exploding gradients)
    distribute: str = "auto"  # tf.distribute strategy: auto, none, mirrored, multi_worker (see models/distribute.py)

    def __post_init__(self):
        _check(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}")
        _check(self.clipnorm is None or self.clipnorm > 0, "clipnorm", "must be above 0 (or null for none)")
        _check(self.epochs >= 1, "epochs", "must be at least 1")
        _check(self.batch_size >= 1, "batch_size", "must be at least 1")
        _check(0.0 < self.learning_rate < 1.0, "learning_rate", "must be in (0, 1)")
        _check(self.early_stopping_patience >= 1, "early_stopping_patience", "must be at least 1")
        _check(0.0 < self.validation_fraction <= 0.5, "validation_fraction", "must be in (0, 0.5]")
        _check(self.distribute in DISTRIBUTE, "distribute", f"must be one of {', '.join(DISTRIBUTE)}")


@dataclass(frozen=True)
class EvalConfig:
    min_accuracy: float = 0.9  # the model is blessed only above this eval accuracy ...
    max_regression: float = 0.0  # ... and no more than this below the last blessed model

    def __post_init__(self):
        _check(0.0 <= self.min_accuracy <= 1.0, "min_accuracy", "must be in [0, 1]")
        _check(0.0 <= self.max_regression <= 1.0, "max_regression", "must be in [0, 1]")


@dataclass(frozen=True)
class DiagnosticsConfig:
    """Training diagnostics (models/diagnostics.py), on a fixed probe batch of the training data."""

    enabled: bool = True
    probe_size: int = 64  # examples in the probe batch
    vanishing_ratio: float = 1e-3  # first layer's gradient norm / last layer's, below this = vanishing
    exploding_norm: float = 1e3  # any layer's gradient norm above this = exploding
    dead_fraction: float = 0.5  # share of a layer's units that never fire, above this = dead layer
    overfit_gap: float = 0.1  # val_loss - loss above this, while val_loss rises = overfitting

    def __post_init__(self):
        _check(self.probe_size >= 1, "probe_size", "must be at least 1")
        _check(0.0 < self.vanishing_ratio < 1.0, "vanishing_ratio", "must be in (0, 1)")
        _check(self.exploding_norm > 0, "exploding_norm", "must be above 0")
        _check(0.0 < self.dead_fraction <= 1.0, "dead_fraction", "must be in (0, 1]")
        _check(self.overfit_gap > 0, "overfit_gap", "must be above 0")


@dataclass(frozen=True)
class BaselineConfig:
    """The shallow baseline (logistic regression on the transformed features) the CNN must beat."""

    enabled: bool = True
    min_lift: Optional[float] = None  # bless only when CNN accuracy - baseline accuracy >= this

    def __post_init__(self):
        _check(self.min_lift is None or -1.0 <= self.min_lift <= 1.0, "min_lift",
               "must be in [-1, 1] (or null for no lift requirement)")


@dataclass(frozen=True)
class TuningConfig:
    """KerasTuner random search over the model controls (models/image_tuner.py), before the Trainer."""

    enabled: bool = False
    trials: int = 4
    epochs: int = 3  # per trial

    def __post_init__(self):
        _check(self.trials >= 1, "trials", "must be at least 1")
        _check(self.epochs >= 1, "epochs", "must be at least 1")


@dataclass(frozen=True)
class ServingConfig:
    model_name: Optional[str] = None  # TF Serving model name (default: the pipeline's name)
    root: Optional[str] = None  # default: <output>/serving; models land in <root>/<model_name>/<version>/
    # `edgeflow serve` (TF Serving's gRPC and REST APIs on `host`):
    host: str = "127.0.0.1"
    grpc_port: int = 8500
    rest_port: int = 8501
    max_batch_size: int = 32  # concurrent requests merged into one call; 1 = no batching
    batch_timeout_ms: float = 0.0  # how long a batch waits for more requests (0: takes what has queued up)
    poll_seconds: float = 1.0  # how often the model folders are checked for new versions
    max_request_bytes: int = 16 * 1024 * 1024  # larger requests get RESOURCE_EXHAUSTED
    workers: int = 1  # server processes sharing the gRPC port (SO_REUSEPORT), each with its own batchers
    container_root: str = "/models"  # where a container mounts the serving root (models.container.config)

    def __post_init__(self):
        _check(self.model_name is None or self.model_name.replace("_", "").replace("-", "").isalnum(),
               "model_name", "must be letters, digits, '-' or '_'")
        for port in ("grpc_port", "rest_port"):
            _check(0 <= getattr(self, port) <= 65535, port, "must be a port number (0-65535; 0 = any free port)")
        _check(1 <= self.max_batch_size <= 4096, "max_batch_size", "must be between 1 and 4096")
        _check(0.0 <= self.batch_timeout_ms <= 1000.0, "batch_timeout_ms", "must be between 0 and 1000")
        _check(1 <= self.workers <= 64, "workers", "must be between 1 and 64")
        _check(self.container_root.startswith("/"), "container_root", "must be an absolute path, like /models")
        _check(self.poll_seconds > 0.0, "poll_seconds", "must be positive")
        _check(self.max_request_bytes >= 1024, "max_request_bytes", "must be at least 1024")


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = True
    uri: Optional[str] = None  # default: sqlite:///<output>/mlflow.db (embedded)
    experiment: Optional[str] = None  # default: the pipeline's name


BOX_LOSSES = ("sqrt", "iou")


@dataclass(frozen=True)
class DetectionConfig:
    """The YOLO detection pipeline: generated data, grid detector, loss, post-processing, blessing.

    The grid is ``image_size / 2**blocks`` cells a side; each cell predicts ``num_anchors`` boxes.
    """

    # The bundled set (used when data.path is unset): digits pasted on a blank canvas.
    num_images: int = 800
    max_objects: int = 3  # 1..max_objects digits per canvas
    min_object_px: int = 12  # digit side in pixels, drawn uniformly from [min, max]
    max_object_px: int = 26
    data_seed: int = 0
    # Model input and backbone.
    image_size: int = 64  # images are resized to (image_size, image_size)
    channels: int = 1
    blocks: int = 3  # conv blocks, each halving the resolution: grid = image_size / 2**blocks
    filters: int = 16  # filters of the first block; each later block doubles them
    num_anchors: int = 3
    anchors: Tuple[float, ...] = ()  # w1, h1, w2, h2, ... as fractions of the image; () = k-means on train boxes
    # Loss.
    lambda_coord: float = 5.0
    lambda_noobj: float = 0.5
    box_loss: str = "sqrt"  # "sqrt" (squared error on x, y, sqrt w, sqrt h) or "iou" (1 - IoU)
    # Box-aware augmentation in training.
    augment_flip: bool = False  # off for digits: a mirrored 2 is not a 2
    augment_scale: float = 0.2  # zoom drawn from [1 - s, 1 + s]
    augment_translate: float = 0.1  # shift up to this fraction of the image
    # Post-processing (serving and edge).
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 20
    # Blessing.
    min_map50: float = 0.8  # blessed only when eval mAP@0.5 reaches this (the default set measures 0.98)

    def __post_init__(self):
        object.__setattr__(self, "anchors", tuple(self.anchors))
        _check(self.num_images >= 10, "num_images", "must be at least 10")
        _check(self.max_objects >= 1, "max_objects", "must be at least 1")
        _check(4 <= self.min_object_px <= self.max_object_px <= self.image_size, "min_object_px",
               "must be at least 4 and at most max_object_px, which must fit in image_size")
        _check(16 <= self.image_size <= 1024, "image_size", "must be between 16 and 1024")
        _check(self.channels in (1, 3), "channels", "must be 1 (grayscale) or 3 (RGB)")
        _check(1 <= self.blocks <= 6 and self.image_size % 2 ** self.blocks == 0, "blocks",
               "must be between 1 and 6, and image_size must be divisible by 2**blocks")
        _check(self.filters >= 1, "filters", "must be at least 1")
        _check(1 <= self.num_anchors <= 9, "num_anchors", "must be between 1 and 9")
        _check(not self.anchors or (len(self.anchors) == 2 * self.num_anchors and all(
            isinstance(a, (int, float)) and 0 < a <= 1 for a in self.anchors)), "anchors",
            "must be empty (k-means) or 2 * num_anchors numbers in (0, 1]: w1, h1, w2, h2, ...")
        _check(self.lambda_coord >= 0 and self.lambda_noobj >= 0, "lambda_coord",
               "and lambda_noobj must be at least 0")
        _check(self.box_loss in BOX_LOSSES, "box_loss", f"must be one of {', '.join(BOX_LOSSES)}")
        _check(0 <= self.augment_scale < 1, "augment_scale", "must be in [0, 1)")
        _check(0 <= self.augment_translate < 0.5, "augment_translate", "must be in [0, 0.5)")
        _check(0 < self.score_threshold < 1, "score_threshold", "must be in (0, 1)")
        _check(0 < self.iou_threshold <= 1, "iou_threshold", "must be in (0, 1]")
        _check(self.max_detections >= 1, "max_detections", "must be at least 1")
        _check(0 <= self.min_map50 <= 1, "min_map50", "must be in [0, 1]")

    @property
    def grid(self) -> int:
        return self.image_size // 2 ** self.blocks
EDGE_VARIANTS = ("float32", "float16", "dynamic", "int8", "qat_int8", "pruned_int8", "clustered_int8",
                 "pqat_int8", "cqat_int8")
EDGE_TARGETS = ("cpu", "edgetpu")


@dataclass(frozen=True)
class ExportConfig:
    """EdgeExport: which TFLite variants to build from a blessed model, and which one to ship."""

    enabled: bool = True
    variants: str = "float32,float16,dynamic,int8,qat_int8,pruned_int8,clustered_int8"  # comma-separated
    target: str = "cpu"  # "edgetpu" ships only a variant whose every op maps to the Edge TPU
    # Ship the smallest variant at most this much worse than the Keras model: accuracy (image, sequence
    # classify) and mAP@0.5 (detection) may drop by this much (0.01 = 1 point); a forecaster's MAE may
    # rise by this fraction of the Keras MAE (0.01 = 1 %).
    max_metric_change: float = 0.01
    fine_tune_epochs: int = 2  # QAT, pruning and clustering fine-tunes
    fine_tune_learning_rate: float = 0.0005
    prune_sparsity: float = 0.5
    cluster_count: int = 16
    representative_samples: int = 200  # transformed train examples that calibrate int8
    latency_runs: int = 100
    timeout_s: int = 600  # per conversion (each runs in a child process)

    def __post_init__(self):
        names = [v.strip() for v in self.variants.split(",") if v.strip()]
        unknown = [v for v in names if v not in EDGE_VARIANTS]
        _check(bool(names) and not unknown, "variants",
               f"must be a comma-separated list of {', '.join(EDGE_VARIANTS)}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        _check(self.target in EDGE_TARGETS, "target", f"must be one of {', '.join(EDGE_TARGETS)}")
        _check(0.0 <= self.max_metric_change <= 10.0, "max_metric_change", "must be in [0, 10]")
        _check(self.fine_tune_epochs >= 1, "fine_tune_epochs", "must be at least 1")
        _check(0.0 < self.fine_tune_learning_rate < 1.0, "fine_tune_learning_rate", "must be in (0, 1)")
        _check(0.0 < self.prune_sparsity < 1.0, "prune_sparsity", "must be in (0, 1)")
        _check(2 <= self.cluster_count <= 256, "cluster_count", "must be between 2 and 256")
        _check(self.representative_samples >= 1, "representative_samples", "must be at least 1")
        _check(self.latency_runs >= 1, "latency_runs", "must be at least 1")
        _check(self.timeout_s >= 10, "timeout_s", "must be at least 10")

    @property
    def variant_names(self) -> tuple:
        return tuple(v.strip() for v in self.variants.split(",") if v.strip())


@dataclass(frozen=True)
class OrchestrationConfig:
    """How runs reuse earlier work (see docs/scaling.md)."""

    cache: bool = False  # TFX caching on ML Metadata: unchanged inputs and code reuse a component's results
    warm_start: bool = False  # the Trainer starts from the last blessed model's weights (when shapes match)


@dataclass(frozen=True)
class KubeflowConfig:
    """``edgeflow compile <pipeline> --target kubeflow``: the container and the schedule of the spec."""

    image: str = "gcr.io/my-project/edgeflow:latest"  # a container image with edgeflow installed
    schedule: Optional[str] = None  # cron expression, written beside the spec for the scheduler of choice
    pipeline_root: Optional[str] = None  # e.g. gs://bucket/edgeflow; default: the local pipeline root


@dataclass(frozen=True)
class PipelineConfig:
    name: str = "image"
    output: str = "output"  # every run's metadata, artifacts, pushed models and MLflow store
    data: DataConfig = field(default_factory=DataConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    pipeline: OrchestrationConfig = field(default_factory=OrchestrationConfig)
    kubeflow: KubeflowConfig = field(default_factory=KubeflowConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def __post_init__(self):
        _check(bool(self.name) and self.name.replace("_", "").replace("-", "").isalnum(),
               "name", "must be letters, digits, '-' or '_'")
        _check(self.image.size >= 2 ** self.model.blocks, "model.blocks",
               f"is {self.model.blocks}, which halves the image too often for "
               f"image.size={self.image.size}; use fewer blocks or a larger image.size")

    # Derived locations; everything a run writes lives under `output`.
    @property
    def output_dir(self) -> Path:
        return Path(self.output).resolve()

    @property
    def pipeline_root(self) -> Path:
        return self.output_dir / self.name / "pipeline_root"

    @property
    def metadata_path(self) -> Path:
        return self.output_dir / self.name / "metadata.sqlite"

    @property
    def serving_root(self) -> Path:
        return Path(self.serving.root).resolve() if self.serving.root else self.output_dir / "serving"

    @property
    def model_name(self) -> str:
        return self.serving.model_name or self.name

    @property
    def tracking_uri(self) -> str:
        return self.tracking.uri or f"sqlite:///{self.output_dir / 'mlflow.db'}"

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name


# ---- presets: functions that change a default -------------------------------------------

def default(cfg: PipelineConfig) -> PipelineConfig:
    return cfg


def tiny(cfg: PipelineConfig) -> PipelineConfig:
    """Seconds of training on a small subset: for tests and smoke runs."""
    return replace(
        cfg,
        image=replace(cfg.image, limit_per_class=30, size=8),
        model=replace(cfg.model, blocks=1, filters=8, dropout=0.1),
        train=replace(cfg.train, epochs=6, batch_size=32, learning_rate=0.01),
        eval=replace(cfg.eval, min_accuracy=0.5),
        sequence=replace(cfg.sequence, horizon=3, limit=1500, units=16),
        detection=replace(cfg.detection, num_images=300, max_objects=2, min_object_px=14, blocks=2,
                          image_size=32, filters=16, num_anchors=2, min_map50=0.5),
        export=replace(cfg.export, variants="float32,int8", fine_tune_epochs=1, latency_runs=20),
    )


# A preset maps the pipeline's defaults to new defaults; YAML and --set apply on top.
PRESETS = {"default": default, "tiny": tiny}


# ---- loading ----------------------------------------------------------------------------

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Checks `value` against the annotation `tp`; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], name)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if tp in (int, str) and (not isinstance(value, tp) or isinstance(value, bool)):
        raise ConfigError(f"{name} must be {'an integer' if tp is int else 'a string'}, got {value!r}")
    if tp is float and not isinstance(value, float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    return value


def from_dict(cls: type, values: dict, prefix: str = "") -> Any:
    """Builds dataclass `cls` from a nested dict, naming any bad field by its dotted path."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping of fields, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{prefix}{key} is not a config field; known fields here: {', '.join(sorted(known))}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        tp, value, name = hints[f.name], values[f.name], prefix + f.name
        kwargs[f.name] = from_dict(tp, value, name + ".") if is_dataclass(tp) else _coerce(value, tp, name)
    try:
        return cls(**kwargs)
    except ConfigError as err:  # range checks name the field without its section; add it
        raise ConfigError(f"{prefix}{err}") from None


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_override(text: str) -> dict:
    """``"train.epochs=3"`` -> ``{"train": {"epochs": 3}}`` (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.field=value, e.g. train.epochs=3")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else None
    nested: dict = {}
    node = nested
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def load_config(pipeline: str = "image", preset: str = "default", path: Optional[str] = None,
                overrides: typing.Sequence[str] = (), updates: Optional[dict] = None) -> PipelineConfig:
    """Preset, then YAML file, then ``--set`` overrides, then `updates` (a nested dict from CLI flags)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = to_dict(PRESETS[preset](PipelineConfig(name=pipeline)))
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {path} does not exist; give the path of a YAML file")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML ({err.__class__.__name__}); fix its syntax") from None
        values = _merge(values, loaded if isinstance(loaded, dict) else {"": loaded})
    for text in overrides:
        values = _merge(values, parse_override(text))
    values = _merge(values, updates or {})
    return from_dict(PipelineConfig, values)


def dump_yaml(cfg: PipelineConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
