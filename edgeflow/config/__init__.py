"""One typed configuration tree for every pipeline: frozen dataclasses.

* ``base``: the loader machinery and :class:`ConfigError`;
* ``shared``: sections every task reads (data, train, eval, diagnostics, serving, tracking, export, ...);
* ``image``, ``sequence``, ``detection``: each task's own sections;
* ``pipeline``: :class:`PipelineConfig`, the presets and :func:`load_config`.

This package imports nothing of edgeflow but its root, so models, components and pipelines all read it.
"""
from edgeflow.config.base import ConfigError, check, dump_yaml, from_dict, parse_override, to_dict
from edgeflow.config.detection import BOX_LOSSES, DetectionConfig
from edgeflow.config.image import BACKBONE_MIN_SIZE, BACKBONES, FLIPS, HEADS, POOLINGS, AugmentConfig, BaselineConfig, ImageConfig, ModelConfig, TuningConfig
from edgeflow.config.pipeline import (APPLIES_TO, PRESETS, PipelineConfig, applies, default, load_config, task_dict,
                                      task_yaml, tiny)
from edgeflow.config.sequence import FORECAST_INPUTS, RNN_CELLS, SEQUENCE_TASKS, SequenceConfig
from edgeflow.config.shared import (ACTIVATIONS, DISTRIBUTE, EDGE_TARGETS, EDGE_VARIANTS, EDGETPU_ACTIVATIONS, INITIALIZERS, LR_SCHEDULES,
                                    DataConfig, DiagnosticsConfig, EvalConfig, ExportConfig, KubeflowConfig,
                                    OrchestrationConfig, ServingConfig, TrackingConfig, TrainConfig,
                                    check_model_controls)

__all__ = [
    "ACTIVATIONS", "APPLIES_TO", "BACKBONE_MIN_SIZE", "BACKBONES", "BOX_LOSSES", "DISTRIBUTE", "EDGE_TARGETS", "EDGE_VARIANTS", "EDGETPU_ACTIVATIONS", "FLIPS", "FORECAST_INPUTS", "HEADS",
    "INITIALIZERS", "LR_SCHEDULES", "POOLINGS", "PRESETS", "RNN_CELLS", "SEQUENCE_TASKS",
    "AugmentConfig", "BaselineConfig", "ConfigError", "DataConfig", "DetectionConfig", "DiagnosticsConfig", "EvalConfig",
    "ExportConfig", "ImageConfig", "KubeflowConfig", "ModelConfig", "OrchestrationConfig", "PipelineConfig",
    "SequenceConfig", "ServingConfig", "TrackingConfig", "TrainConfig", "TuningConfig",
    "applies", "check", "check_model_controls", "default", "dump_yaml", "from_dict", "load_config", "parse_override",
    "task_dict", "task_yaml", "tiny", "to_dict",
]
