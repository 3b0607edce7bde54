"""The whole tree of one pipeline run, its named presets, and the loader.

Loaded once, from defaults, then a preset, then an optional YAML file, then ``--set a.b=value``
overrides (see :func:`load_config`). Every value is type-checked and range-checked at load time,
and a bad one is reported with its dotted field name. TFX types are built from this tree only at
the pipeline boundary.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import yaml

from edgeflow.config.base import ConfigError, _merge, check, from_dict, parse_override, to_dict
from edgeflow.config.detection import DetectionConfig
from edgeflow.config.image import BACKBONE_MIN_SIZE, AugmentConfig, BaselineConfig, ImageConfig, ModelConfig, TuningConfig
from edgeflow.config.sequence import SequenceConfig
from edgeflow.config.shared import (EDGETPU_ACTIVATIONS, DataConfig, DiagnosticsConfig, EvalConfig, ExportConfig, KubeflowConfig,
                                    OrchestrationConfig, ServingConfig, TrackingConfig, TrainConfig)

EDGETPU_UNMAPPED_BACKBONES = ("mobilenet_v3_small",)


@dataclass(frozen=True)
class PipelineConfig:
    name: str = "image"
    output: str = "output"  # every run's metadata, artifacts, pushed models and MLflow store
    data: DataConfig = field(default_factory=DataConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
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
        check(bool(self.name) and self.name.replace("_", "").replace("-", "").isalnum(),
               "name", "must be letters, digits, '-' or '_'")
        if self.model.backbone == "cnn":
            check(self.image.size is None or self.image.size >= 2 ** self.model.blocks, "model.blocks",
                  f"is {self.model.blocks}, which halves the image too often for "
                  f"image.size={self.image.size}; use fewer blocks or a larger image.size")
        else:
            check(self.image.size is None or self.image.size >= BACKBONE_MIN_SIZE, "image.size",
                  f"is {self.image.size}, smaller than the {BACKBONE_MIN_SIZE} px the {self.model.backbone} backbone "
                  f"needs; set image.size={BACKBONE_MIN_SIZE} or more, or use model.backbone=cnn")
            check(not self.tuning.enabled, "tuning.enabled",
                  "searches the cnn's controls only; set tuning.enabled=false with a backbone")
        if self.export.target == "edgetpu" and applies("model", self.name):
            act = self.model.activation
            if act == "leaky_relu":  # the Edge TPU has no LeakyRelu: build PReLU, one slope per channel from leaky_alpha
                object.__setattr__(self, "model", replace(self.model, activation="prelu"))
                act = "prelu"
            # measured: MobileNetV3's int8 .tflite has HARD_SWISH, not on the Edge TPU's list; MobileNetV2's maps whole
            check(self.model.backbone not in EDGETPU_UNMAPPED_BACKBONES, "model.backbone",
                  f"is {self.model.backbone}, whose hard-swish activations convert to HARD_SWISH, which the Edge TPU "
                  "cannot run (export.target=edgetpu would send the rest of the graph to the CPU); use mobilenet_v2 or cnn")
            check(act in EDGETPU_ACTIVATIONS, "model.activation",
                  f"is {act}, which the Edge TPU cannot run (export.target=edgetpu would send every layer after "
                  f"the first {act} to the CPU); use one of {', '.join(EDGETPU_ACTIVATIONS)}")

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
        augment=replace(cfg.augment, flip="none"),  # the bundled digits: a mirrored 2 is not a 2
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


# ---- which sections a run reads -------------------------------------------------------------

# A key (a section, or section.field) that only some pipelines read, and those pipelines. Every
# other section (data, train, eval, diagnostics, serving, tracking, pipeline, kubeflow, export)
# applies to all three. A run's MLflow params and config.yaml show only what applies to it, and
# setting a key that does not apply is refused at load time.
APPLIES_TO = {
    "image": ("image",),
    "augment": ("image",),
    "model": ("image",),
    "baseline": ("image",),
    "tuning": ("image",),
    "eval.min_accuracy": ("image",),
    "train.fine_tune_layers": ("image",),  # a pretrained model.backbone's second stage
    "train.fine_tune_lr": ("image",),
    "train.fine_tune_epochs": ("image",),
    "sequence": ("sequence",),
    "detection": ("detection",),
}


def applies(key: str, pipeline: str) -> bool:
    """Whether the dotted `key` (``model`` or ``eval.min_accuracy``) is read by `pipeline`.

    A pipeline name edgeflow does not know reads everything (the runner refuses it later)."""
    known = {p for pipelines in APPLIES_TO.values() for p in pipelines}
    return pipeline not in known or pipeline in APPLIES_TO.get(key, (pipeline,))


def task_dict(cfg: PipelineConfig) -> dict:
    """The config as a nested dict, with only the sections and fields `cfg.name`'s pipeline reads:
    what MLflow logs as params and as config.yaml."""
    out = {}
    for key, value in to_dict(cfg).items():
        if not applies(key, cfg.name):
            continue
        if isinstance(value, dict):
            value = {f: v for f, v in value.items() if applies(f"{key}.{f}", cfg.name)}
        out[key] = value
    return out


def task_yaml(cfg: PipelineConfig) -> str:
    """:func:`task_dict` as YAML; :func:`load_config` reads it back to the same config."""
    return yaml.safe_dump(task_dict(cfg), sort_keys=False)


def refuse_foreign_keys(values: dict, pipeline: str) -> None:
    """Raises ConfigError for the first key in `values` (YAML, --set, flags) that `pipeline` does not read."""
    for section, fields_ in values.items():
        set_fields = [f"{section}.{f}" for f in fields_] if isinstance(fields_, dict) else []
        for key in [section] + set_fields:
            if not applies(key, pipeline):
                what = (f"the {key} section" + (f" ({', '.join(set_fields[:3])}{', ...' if len(set_fields) > 3 else ''})"
                                                   if set_fields else "")
                        if key == section else key)
                raise ConfigError(f"{what} applies only to the {' and '.join(APPLIES_TO[key])} pipeline, "
                                  f"not to this {pipeline} run; remove it from the config file and the --set overrides")


# ---- loading ----------------------------------------------------------------------------

def load_config(pipeline: str = "image", preset: str = "default", path: Optional[str] = None,
                overrides: typing.Sequence[str] = (), updates: Optional[dict] = None) -> PipelineConfig:
    """Preset, then YAML file, then ``--set`` overrides, then `updates` (a nested dict from CLI flags).

    A section or field set in the YAML file, an override or `updates` that `pipeline` does not
    read (see :data:`APPLIES_TO`) is refused with one sentence naming it and its pipelines."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values: dict = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {path} does not exist; give the path of a YAML file")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML ({err.__class__.__name__}); fix its syntax") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} holds a {type(loaded).__name__}, not a mapping of sections; "
                              "write it as e.g. 'train:' then '  epochs: 3'")
        values = _merge(values, loaded)
    for text in overrides:
        values = _merge(values, parse_override(text))
    values = _merge(values, updates or {})
    refuse_foreign_keys(values, pipeline)
    return from_dict(PipelineConfig, _merge(to_dict(PRESETS[preset](PipelineConfig(name=pipeline))), values))
