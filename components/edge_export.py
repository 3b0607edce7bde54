"""EdgeExport: the blessed model leaves the pipeline as measured .tflite files.

A Python-function component after the Evaluator. It takes the blessing and does nothing
for a model that was not blessed (like the Pusher). For a blessed one it reads the bare
Keras model the Trainer saved (``<ModelRun>/keras/model.keras``) and the Transform output
(train split: fine-tuning and int8 calibration; eval split: measurements), then calls
:func:`edgeflow.components.edge_models.export_edge_models`. The report goes into the
active MLflow run when there is one.
"""

import json
import logging
import os

from tfx import v1 as tfx
from tfx.types import artifact, artifact_utils
from tfx.types.standard_artifacts import Examples, ModelBlessing, ModelRun

from edgeflow.pipelines.config import ExportConfig, from_dict

log = logging.getLogger("edgeflow")

KERAS_MODEL = os.path.join("keras", "model.keras")  # under the Trainer's ModelRun artifact


class EdgeModels(artifact.Artifact):
    """A folder of .tflite variants, their model-info JSONs, report.json and the shipped model.tflite."""

    TYPE_NAME = "edgeflow.EdgeModels"  # namespace.Name: the form Kubeflow V2 accepts for custom types


@tfx.dsl.components.component
def EdgeExport(model_run: tfx.dsl.components.InputArtifact[ModelRun],
               transformed_examples: tfx.dsl.components.InputArtifact[Examples],
               blessing: tfx.dsl.components.InputArtifact[ModelBlessing],
               edge_models: tfx.dsl.components.OutputArtifact[EdgeModels],
               export_config: tfx.dsl.components.Parameter[str],
               labels: tfx.dsl.components.Parameter[str],
               seed: tfx.dsl.components.Parameter[int] = 42) -> None:
    """Builds, measures and writes the TFLite variants of a blessed model."""
    from edgeflow.components.edge_models import export_edge_models
    from edgeflow.pipelines.tracking import log_edge_report

    if not blessing.get_int_custom_property("blessed"):
        log.info("  edge: model not blessed, nothing exported")
        edge_models.set_int_custom_property("exported", 0)
        return
    cfg = from_dict(ExportConfig, json.loads(export_config), "export.")
    report = export_edge_models(
        os.path.join(model_run.uri, KERAS_MODEL),
        artifact_utils.get_split_uri([transformed_examples], "train"),
        artifact_utils.get_split_uri([transformed_examples], "eval"),
        json.loads(labels), cfg, edge_models.uri, seed)
    edge_models.set_int_custom_property("exported", 1)
    edge_models.set_string_custom_property("shipped", report["shipped"] or "")
    log_edge_report(report, edge_models.uri)
