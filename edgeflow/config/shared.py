"""Config sections every pipeline shares: data, training, evaluation, diagnostics, serving,
tracking, orchestration and EdgeExport."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from edgeflow.config.base import check

ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "gelu", "sigmoid", "tanh")
EDGETPU_ACTIVATIONS = ("relu", "prelu", "sigmoid", "tanh")  # on Coral's list (ReLU, PReLU, Logistic, Tanh)
INITIALIZERS = ("he_normal", "he_uniform", "glorot_uniform", "lecun_normal")
LR_SCHEDULES = ("constant", "plateau", "cosine")
DISTRIBUTE = ("auto", "none", "mirrored", "multi_worker")
ORCHESTRATORS = ("local", "beam")  # TFX's LocalDagRunner, BeamDagRunner (pipelines/runner.py)


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split; shared by every pipeline."""

    path: Optional[str] = None  # the input folder or file; None = the pipeline's bundled data set
    train_buckets: int = 4  # deterministic hash split (train:eval buckets)
    eval_buckets: int = 1
    max_bad_fraction: float = 0.05  # unreadable records are skipped; past this share the run stops
    pattern: Optional[str] = None  # under path, e.g. "span-{SPAN}/*/*": each run reads the newest span

    def __post_init__(self):
        check(self.train_buckets >= 1, "train_buckets", "must be at least 1")
        check(self.eval_buckets >= 1, "eval_buckets", "must be at least 1")
        check(0.0 <= self.max_bad_fraction < 1.0, "max_bad_fraction", "must be in [0, 1)")

def check_model_controls(cfg) -> None:
    """The controls every architecture shares (activation, initializer, L1/L2, dropout)."""
    check(cfg.activation in ACTIVATIONS, "activation", f"must be one of {', '.join(ACTIVATIONS)}")
    check(0.0 < cfg.leaky_alpha < 1.0, "leaky_alpha", "must be in (0, 1) (the negative slope of leaky_relu, the first slope of prelu)")
    check(cfg.initializer in INITIALIZERS, "initializer", f"must be one of {', '.join(INITIALIZERS)}")
    check(cfg.l1 >= 0.0, "l1", "must be at least 0")
    check(cfg.l2 >= 0.0, "l2", "must be at least 0")
    check(0.0 <= cfg.dropout < 1.0, "dropout", "must be in [0, 1)")

@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 0.003
    early_stopping_patience: int = 4
    # Early stopping watches val_loss only from this epoch on: a CNN on larger inputs can sit at
    # chance for its first epochs, and patience alone would stop it there (models/training/callbacks.py).
    min_epochs: int = 10
    validation_fraction: float = 0.1  # of the train split, held out for early stopping (models/training/validation.py)
    seed: int = 42
    lr_schedule: str = "plateau"  # constant | plateau (ReduceLROnPlateau on val_loss) | cosine decay
    warmup_epochs: int = 0  # with lr_schedule cosine: the learning rate rises linearly over these first epochs
    resume: bool = True  # back up every epoch; a killed training resumes from its last epoch
    tensorboard: bool = True  # TensorBoard logs under <model run dir>/tensorboard
    clipnorm: Optional[float] = None  # clip each gradient's norm (a cure for exploding gradients)
    distribute: str = "auto"  # tf.distribute strategy: auto, none, mirrored, multi_worker (see models/training/distribute.py)
    # A pretrained backbone (model.backbone, model.weights not null) trains in two stages: first the new
    # head for `epochs` with the backbone frozen, then the top `fine_tune_layers` layers of the backbone
    # unfrozen (its batch norm layers stay frozen) at `fine_tune_lr` for `fine_tune_epochs` more.
    fine_tune_layers: int = 30  # 0 = no second stage
    fine_tune_lr: float = 1e-4
    fine_tune_epochs: int = 10
    # Exponential moving average of the weights (YOLOv5's, models/training/ema.py): after every step
    # shadow = d shadow + (1 - d) weights, d = ema_decay (1 - exp(-step / ema_tau)); validation, early
    # stopping, the checkpoint and the exported model use the average. A run shorter than YOLOv5's caps
    # the averaging window 1 / (1 - d) at a tenth of its planned steps and ema_tau at a twentieth.
    # Off by default: with lr_schedule plateau the averaged val_loss cuts the learning rate early (BENCHMARKS.md).
    ema: bool = False
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0  # the decay's ramp, in steps

    def __post_init__(self):
        check(isinstance(self.ema, bool), "ema", "must be true or false")
        check(0.0 <= self.ema_decay < 1.0, "ema_decay", "must be in [0, 1)")
        check(self.ema_tau > 0, "ema_tau", "must be above 0 (steps)")
        check(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}")
        check(self.clipnorm is None or self.clipnorm > 0, "clipnorm", "must be above 0 (or null for none)")
        check(self.epochs >= 1, "epochs", "must be at least 1")
        check(0 <= self.warmup_epochs < self.epochs, "warmup_epochs", "must be at least 0 and below epochs")
        check(self.batch_size >= 1, "batch_size", "must be at least 1")
        check(0.0 < self.learning_rate < 1.0, "learning_rate", "must be in (0, 1)")
        check(self.early_stopping_patience >= 1, "early_stopping_patience", "must be at least 1")
        check(self.min_epochs >= 0, "min_epochs", "must be at least 0 (0 = early stopping may stop at any epoch)")
        check(0.0 < self.validation_fraction <= 0.5, "validation_fraction", "must be in (0, 0.5]")
        check(self.distribute in DISTRIBUTE, "distribute", f"must be one of {', '.join(DISTRIBUTE)}")
        check(self.fine_tune_layers >= 0, "fine_tune_layers", "must be at least 0 (0 = no fine-tuning stage)")
        check(0.0 < self.fine_tune_lr < 1.0, "fine_tune_lr", "must be in (0, 1)")
        check(self.fine_tune_epochs >= 1, "fine_tune_epochs", "must be at least 1")

@dataclass(frozen=True)
class EvalConfig:
    min_accuracy: float = 0.9  # the model is blessed only above this eval accuracy ...
    max_regression: float = 0.0  # ... and no more than this below the last blessed model
    # The last blessed model is a baseline only for the same pipeline, label set (forecast: target and
    # horizon) and data source; true drops the data-source condition (components/shared/lineage.py).
    compare_across_data: bool = False

    def __post_init__(self):
        check(0.0 <= self.min_accuracy <= 1.0, "min_accuracy", "must be in [0, 1]")
        check(0.0 <= self.max_regression <= 1.0, "max_regression", "must be in [0, 1]")
        check(isinstance(self.compare_across_data, bool), "compare_across_data", "must be true or false")

@dataclass(frozen=True)
class DiagnosticsConfig:
    """Training diagnostics (models/training/diagnostics.py), on a fixed probe batch of the training data."""

    enabled: bool = True
    probe_size: int = 64  # examples in the probe batch
    vanishing_ratio: float = 1e-3  # first layer's gradient norm / last layer's, below this = vanishing
    exploding_norm: float = 1e3  # any layer's gradient norm above this = exploding
    dead_fraction: float = 0.5  # share of a layer's units that never fire, above this = dead layer
    overfit_gap: float = 0.1  # val_loss - loss above this, while val_loss rises = overfitting

    def __post_init__(self):
        check(self.probe_size >= 1, "probe_size", "must be at least 1")
        check(0.0 < self.vanishing_ratio < 1.0, "vanishing_ratio", "must be in (0, 1)")
        check(self.exploding_norm > 0, "exploding_norm", "must be above 0")
        check(0.0 < self.dead_fraction <= 1.0, "dead_fraction", "must be in (0, 1]")
        check(self.overfit_gap > 0, "overfit_gap", "must be above 0")

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
    rest_max_connections: int = 256  # open REST connections at once; more get 503 at once
    rest_timeout_s: float = 30.0  # a REST request (headers and body) must arrive within this; else the
    #                               connection is closed (idle keep-alive connections included)
    container_root: str = "/models"  # where a container mounts the serving root (models.container.config)

    def __post_init__(self):
        check(self.model_name is None or self.model_name.replace("_", "").replace("-", "").isalnum(),
               "model_name", "must be letters, digits, '-' or '_'")
        for port in ("grpc_port", "rest_port"):
            check(0 <= getattr(self, port) <= 65535, port, "must be a port number (0-65535; 0 = any free port)")
        check(1 <= self.max_batch_size <= 4096, "max_batch_size", "must be between 1 and 4096")
        check(0.0 <= self.batch_timeout_ms <= 1000.0, "batch_timeout_ms", "must be between 0 and 1000")
        check(1 <= self.workers <= 64, "workers", "must be between 1 and 64")
        check(self.container_root.startswith("/"), "container_root", "must be an absolute path, like /models")
        check(self.poll_seconds > 0.0, "poll_seconds", "must be positive")
        check(self.max_request_bytes >= 1024, "max_request_bytes", "must be at least 1024")
        check(1 <= self.rest_max_connections <= 10000, "rest_max_connections", "must be between 1 and 10000")
        check(0.1 <= self.rest_timeout_s <= 3600.0, "rest_timeout_s", "must be between 0.1 and 3600 seconds")

@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = True
    uri: Optional[str] = None  # default: sqlite:///<output>/mlflow.db (embedded)
    experiment: Optional[str] = None  # default: the pipeline's name


EDGE_VARIANTS = ("float32", "float16", "dynamic", "int8", "int16x8", "qat_int8", "pruned_int8", "clustered_int8",
                 "pqat_int8", "cqat_int8")
EDGE_TARGETS = ("cpu", "edgetpu")


@dataclass(frozen=True)
class ExportConfig:
    """EdgeExport: which TFLite variants to build from a blessed model, and which one to ship.

    ``variants="auto"`` (the default policy) builds the post-training variants (float32, float16,
    dynamic, full-integer int8), then int16x8 PTQ (16-bit activations) when int8 misses
    ``max_metric_change`` (target cpu), and the fine-tuned ``fallback_variants`` only when no
    full-integer PTQ variant meets it (TFMOT's guidance: PTQ first, QAT when PTQ costs too much).
    A comma-separated list instead builds exactly those variants, and no others.
    """

    AUTO = "auto"
    PTQ = ("float32", "float16", "dynamic", "int8")  # what "auto" always builds
    FINE_TUNED = ("qat_int8", "pruned_int8", "clustered_int8", "pqat_int8", "cqat_int8")
    INPUT_TYPES = ("uint8", "int8")

    enabled: bool = True
    variants: str = "auto"  # "auto" (the policy above) or exactly these, comma-separated
    fallback_variants: str = "qat_int8"  # with "auto": built only when no full-integer PTQ (int8, int16x8) meets the bar
    target: str = "cpu"  # "edgetpu" ships only a variant whose every op maps to the Edge TPU
    edgetpu_input_type: str = "uint8"  # target "edgetpu": the integer input/output type of full-integer files
    # Ship the smallest variant at most this much worse than the Keras model: accuracy (image, sequence
    # classify) and mAP@0.5 (detection) may drop by this much (0.01 = 1 point); a forecaster's MAE may
    # rise by this fraction of the Keras MAE (0.01 = 1 %).
    max_metric_change: float = 0.01
    fine_tune_epochs: int = 2  # QAT, pruning and clustering fine-tunes
    fine_tune_learning_rate: float = 0.0005
    prune_sparsity: float = 0.5
    cluster_count: int = 16
    representative_samples: int = 200  # transformed train examples that calibrate int8
    # Bounded, seeded samples (train.seed) of each split, so memory does not grow with the data
    # (0: the whole split): fine-tuning and calibration read at most max_train_examples; each
    # variant and the Keras model are scored on the same max_eval_examples. The report says how many.
    max_train_examples: int = 5000
    max_eval_examples: int = 2000
    latency_budget_s: float = 0.5  # per variant and thread setting: timed invokes stop after this long ...
    latency_runs: int = 100  # ... or after this many, whichever comes first
    timeout_s: int = 600  # per conversion (each runs in a child process)

    def __post_init__(self):
        names = self._names(self.variants)
        if names != (self.AUTO,):
            unknown = [v for v in names if v not in EDGE_VARIANTS]
            check(bool(names) and not unknown, "variants",
                  f"must be auto or a comma-separated list of {', '.join(EDGE_VARIANTS)}"
                  + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        fallback = self._names(self.fallback_variants)
        wrong = [v for v in fallback if v not in self.FINE_TUNED]
        check(not wrong, "fallback_variants", f"must be a comma-separated list of {', '.join(self.FINE_TUNED)} "
              f"(got {', '.join(wrong)})")
        check(self.target in EDGE_TARGETS, "target", f"must be one of {', '.join(EDGE_TARGETS)}")
        check(self.edgetpu_input_type in self.INPUT_TYPES, "edgetpu_input_type",
              f"must be one of {', '.join(self.INPUT_TYPES)}")
        check(0.0 <= self.max_metric_change <= 10.0, "max_metric_change", "must be in [0, 10]")
        check(self.fine_tune_epochs >= 1, "fine_tune_epochs", "must be at least 1")
        check(0.0 < self.fine_tune_learning_rate < 1.0, "fine_tune_learning_rate", "must be in (0, 1)")
        check(0.0 < self.prune_sparsity < 1.0, "prune_sparsity", "must be in (0, 1)")
        check(2 <= self.cluster_count <= 256, "cluster_count", "must be between 2 and 256")
        check(self.representative_samples >= 1, "representative_samples", "must be at least 1")
        for name in ("max_train_examples", "max_eval_examples"):
            check(getattr(self, name) >= 0, name, "must be 0 (the whole split) or a positive count")
        check(0.0 < self.latency_budget_s <= 600.0, "latency_budget_s", "must be in (0, 600] seconds")
        check(self.latency_runs >= 1, "latency_runs", "must be at least 1")
        check(self.timeout_s >= 10, "timeout_s", "must be at least 10")

    @staticmethod
    def _names(text: str) -> tuple:
        return tuple(v.strip() for v in text.split(",") if v.strip())

    @property
    def auto(self) -> bool:
        """True for the default policy (PTQ first, fine-tuned variants only when PTQ misses the bar)."""
        return self._names(self.variants) == (self.AUTO,)

    @property
    def variant_names(self) -> tuple:
        """The variants built first: the PTQ ones with "auto", else exactly the configured list."""
        return self.PTQ if self.auto else self._names(self.variants)

    @property
    def fallback_names(self) -> tuple:
        """The fine-tuned variants "auto" adds when full-integer PTQ misses ``max_metric_change``."""
        return self._names(self.fallback_variants) if self.auto else ()

@dataclass(frozen=True)
class OrchestrationConfig:
    """How runs reuse earlier work (see docs/scaling.md)."""

    cache: bool = False  # TFX caching on ML Metadata: unchanged inputs and code reuse a component's results
    warm_start: bool = False  # the Trainer starts from the last blessed model's weights (when shapes match)
    orchestrator: str = "local"  # edgeflow run's TFX runner: local (LocalDagRunner), beam (BeamDagRunner)

    def __post_init__(self):
        check(self.orchestrator in ORCHESTRATORS, "orchestrator", f"must be one of {', '.join(ORCHESTRATORS)}")

@dataclass(frozen=True)
class KubeflowConfig:
    """``edgeflow compile <pipeline> --target kubeflow``: the container and the schedule of the spec."""

    image: str = "gcr.io/my-project/edgeflow:latest"  # a container image with edgeflow installed
    schedule: Optional[str] = None  # cron expression, written beside the spec for the scheduler of choice
    pipeline_root: Optional[str] = None  # e.g. gs://bucket/edgeflow; default: the local pipeline root
