"""EdgeExport: the blessed model leaves the pipeline as measured .tflite files.

A Python-function component after the evaluator of every pipeline. It takes the blessing and
does nothing for a model that was not blessed (like the Pusher). For a blessed one it reads the
bare Keras model the Trainer saved (``<ModelRun>/keras/model.keras``) and the examples of its
pipeline (train split: fine-tuning and int8 calibration; eval split: measurements), loaded by
:func:`edgeflow.components.edge_export.data.load_edge_data`:

* ``pipeline="image"``: ``examples`` = the Transform output;
* ``pipeline="sequence"``: ``examples`` = the ExampleGen's raw windows, plus ``transform_graph``
  (its train statistics are wrapped around the model, so the .tflite takes raw windows);
* ``pipeline="detection"``: ``examples`` = the ExampleGen's images and boxes.

``task_config`` is the JSON the loader needs (sequence: window, horizon, feature and target
columns; detection: the loss weights). Then
:func:`edgeflow.components.edge_export.export.export_edge_models` builds and measures every variant with
the task's metric. The report goes into the active MLflow run when there is one.
"""

import json
import logging

from tfx import v1 as tfx
from tfx.types import artifact
from tfx.types.standard_artifacts import Examples, ModelBlessing, ModelRun, TransformGraph

from edgeflow.config import ExportConfig, from_dict

log = logging.getLogger("edgeflow")


class EdgeModels(artifact.Artifact):
    """A folder of .tflite variants, their model-info JSONs, report.json and the shipped model.tflite."""

    TYPE_NAME = "edgeflow.EdgeModels"  # namespace.Name: the form Kubeflow V2 accepts for custom types


@tfx.dsl.components.component
def EdgeExport(model_run: tfx.dsl.components.InputArtifact[ModelRun],
               examples: tfx.dsl.components.InputArtifact[Examples],
               blessing: tfx.dsl.components.InputArtifact[ModelBlessing],
               edge_models: tfx.dsl.components.OutputArtifact[EdgeModels],
               export_config: tfx.dsl.components.Parameter[str],
               labels: tfx.dsl.components.Parameter[str],
               transform_graph: tfx.dsl.components.InputArtifact[TransformGraph] = None,
               pipeline: tfx.dsl.components.Parameter[str] = "image",
               task_config: tfx.dsl.components.Parameter[str] = "{}",
               seed: tfx.dsl.components.Parameter[int] = 42) -> None:
    """Builds, measures and writes the TFLite variants of a blessed model."""
    from edgeflow.components.edge_export.data import Sampling, load_edge_data
    from edgeflow.models.training.bare_model import KERAS_MODEL
    from edgeflow.components.edge_export.export import export_edge_models, load_keras
    from edgeflow.components.edge_export.tracking import log_edge_report

    if not blessing.get_int_custom_property("blessed"):
        log.info("  edge: model not blessed, nothing exported")
        edge_models.set_int_custom_property("exported", 0)
        return
    cfg = from_dict(ExportConfig, json.loads(export_config), "export.")
    keras_path = f"{model_run.uri}/{KERAS_MODEL}"
    data = load_edge_data(pipeline, load_keras(keras_path), model_run.uri, examples.uri,
                          transform_graph.uri if transform_graph else None, json.loads(task_config), json.loads(labels),
                          Sampling(cfg.max_train_examples, cfg.max_eval_examples, seed))
    report = export_edge_models(keras_path, data, cfg, edge_models.uri, seed)
    edge_models.set_int_custom_property("exported", 1)
    edge_models.set_string_custom_property("shipped", report["shipped"] or "")
    log_edge_report(report, edge_models.uri)


def edge_export_nodes(cfg, pipeline: str, model_run, examples, blessing, labels=(), transform_graph=None,
                      task_config=None) -> list:
    """[the EdgeExport node of `pipeline`] when ``export.enabled``, else []; `cfg` is the PipelineConfig."""
    from dataclasses import asdict

    if not cfg.export.enabled:
        return []
    optional = {"transform_graph": transform_graph} if transform_graph is not None else {}
    return [EdgeExport(model_run=model_run, examples=examples, blessing=blessing,
                       export_config=json.dumps(asdict(cfg.export)), labels=json.dumps(list(labels)),
                       pipeline=pipeline, task_config=json.dumps(task_config or {}), seed=cfg.train.seed, **optional)]
