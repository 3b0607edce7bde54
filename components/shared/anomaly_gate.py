"""AnomalyGate: stops the pipeline when ExampleValidator found data anomalies.

TFX's ExampleValidator records anomalies but lets the run go on; a production line
should not train on data that breaks its schema. The gate reads the anomalies of
every split and raises :class:`DataAnomaliesError` with a readable summary.
"""

import os
from typing import List

from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

from edgeflow import EdgeflowError


class DataAnomaliesError(EdgeflowError):
    pass


def summarize_anomalies(split: str, anomalies) -> List[str]:
    """One line per anomalous feature: ``split: feature: description``."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        text = info.description or info.short_description or "anomaly"
        lines.append(f"{split}: {feature}: {text}")
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        lines.append(f"{split}: (dataset): {info.description or info.short_description}")
    return lines


def read_anomalies(artifact) -> List[str]:
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    lines = []
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), "SchemaDiff.pb")
        with tf.io.gfile.GFile(path, "rb") as f:
            lines += summarize_anomalies(split, anomalies_pb2.Anomalies.FromString(f.read()))
    return lines


@tfx.dsl.components.component
def AnomalyGate(anomalies: tfx.dsl.components.InputArtifact[ExampleAnomalies]) -> None:
    """Raises when any split has anomalies; passes silently otherwise."""
    lines = read_anomalies(anomalies)
    if lines:
        raise DataAnomaliesError(
            f"the data breaks its schema in {len(lines)} place(s) ({'; '.join(lines[:5])}); "
            "fix the data, or update the schema if the change is intended")
