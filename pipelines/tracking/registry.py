"""The model in MLflow: a pyfunc over the pushed SavedModel, the registry and the `champion` alias.

MLflow's TensorFlow flavor wants a tf.keras model, but what a pipeline pushes is a
SavedModel whose ``serving_default`` signature carries the Transform graph (it takes
encoded images). :class:`SavedModelSignature` wraps that signature as an
``mlflow.pyfunc.PythonModel``, so ``mlflow.pyfunc.load_model(...).predict`` scores
exactly what TF Serving would.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import List, Optional

import mlflow
import numpy as np
import pandas as pd

CHAMPION = "champion"


class SavedModelSignature(mlflow.pyfunc.PythonModel):
    """Calls one signature of a SavedModel; inputs are DataFrame columns named like the signature's."""

    def __init__(self, signature: str = "serving_default"):
        self.signature = signature

    def load_context(self, context):
        import edgeflow  # noqa: F401 - legacy Keras and quiet TF before TensorFlow loads
        import tensorflow as tf

        self._model = tf.saved_model.load(context.artifacts["saved_model"])
        self._fn = self._model.signatures[self.signature]

    def predict(self, context, model_input: pd.DataFrame, params=None):
        import tensorflow as tf

        spec = self._fn.structured_input_signature[1]
        feed = {name: tf.constant(np.asarray(list(model_input[name])), dtype=s.dtype) for name, s in spec.items()}
        out = {k: v.numpy() for k, v in self._fn(**feed).items()}
        return pd.DataFrame({k: list(v) if v.ndim > 1 else
                             [x.decode() if isinstance(x, bytes) else x for x in v] for k, v in out.items()})


def signature_of(saved_model_dir: str, name: str = "serving_default"):
    """The MLflow signature of a SavedModel signature: one column per tensor (an array column
    per example row for tensors of rank 2 and more); string inputs are binary, string outputs text."""
    import tensorflow as tf
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    kinds = {tf.float32: DataType.float, tf.float64: DataType.double, tf.int32: DataType.integer,
             tf.int64: DataType.long, tf.bool: DataType.boolean}

    def schema(specs: dict, string_type) -> Schema:
        cols = []
        for key, spec in sorted(specs.items()):
            kind = string_type if spec.dtype == tf.string else kinds[spec.dtype]
            for _ in range(max(spec.shape.rank - 1, 0)):
                kind = Array(kind)
            cols.append(ColSpec(kind, key))
        return Schema(cols)

    fn = tf.saved_model.load(saved_model_dir).signatures[name]
    return ModelSignature(inputs=schema(fn.structured_input_signature[1], DataType.binary),
                          outputs=schema(fn.structured_outputs, DataType.string))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def input_example(saved_model_dir: str, data_path: Optional[str]) -> Optional[pd.DataFrame]:
    """One row the model takes, from the data the run read: for a model whose input is encoded images
    (``*_bytes``), the first image file under `data_path`. None for other inputs (no example is invented)."""
    import tensorflow as tf

    spec = tf.saved_model.load(saved_model_dir).signatures["serving_default"].structured_input_signature[1]
    if not data_path or len(spec) != 1 or not next(iter(spec)).endswith("_bytes"):
        return None
    root = Path(data_path)
    image = next((p for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES), None) if root.is_dir() else None
    return pd.DataFrame({next(iter(spec)): [image.read_bytes()]}) if image else None


def log_pushed_model(saved_model_dir: str, example: Optional[pd.DataFrame] = None):
    """Logs the SavedModel as an MLflow pyfunc model named ``model`` in the active run, with `example`
    (see :func:`input_example`) as its ``input_example``."""
    warnings.filterwarnings("ignore", message=".*An input example was not provided")
    return mlflow.pyfunc.log_model(name="model", python_model=SavedModelSignature(),
                                   artifacts={"saved_model": saved_model_dir},
                                   signature=signature_of(saved_model_dir), input_example=example)


def lineage_tags(lineage: dict) -> dict:
    """A model version's data lineage as MLflow tags: pipeline, data source, fingerprint, label set."""
    if not lineage:
        return {}
    return {"lineage.pipeline": str(lineage.get("pipeline", "")), "lineage.data_source": str(lineage.get("source", "")),
            "lineage.data_fingerprint": str(lineage.get("fingerprint", "")),
            "lineage.labels": ",".join(lineage.get("labels") or [])[:5000]}


def register_champion(model_uri: str, name: str, client=None, tags: dict = None) -> str:
    """A new registered version of `name` (with `tags`, e.g. :func:`lineage_tags`) and the `champion` alias
    moved to it; returns the version."""
    client = client or mlflow.tracking.MlflowClient()
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..." itself
        version = mlflow.register_model(model_uri, name, tags=tags or None).version
    client.set_registered_model_alias(name, CHAMPION, version)
    return str(version)


def list_versions(name: str, client=None) -> List[dict]:
    """Every version of `name`, newest first, with its run's eval metrics and its aliases."""
    client = client or mlflow.tracking.MlflowClient()
    aliases: dict = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for v in client.search_model_versions(f"name='{name}'"):
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        rows.append({"version": int(v.version), "run_id": v.run_id, "aliases": aliases.get(str(v.version), []),
                     "created": v.creation_timestamp,
                     "metrics": {k: val for k, val in metrics.items() if k.startswith("eval.")}})
    return sorted(rows, key=lambda r: -r["version"])
