"""The data a run read, as an MLflow dataset input: source, digest (the data fingerprint), counts, schema.

The run page's "Datasets" then names the folder or CSV the ExampleGen read, with the content
fingerprint of components/shared/records.py as its digest (equal data, equal digest, wherever it lies),
the examples per split as its profile, and the columns of the schema TFX inferred.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Dict, Optional

from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.types import ColSpec, Schema

# TFX schema feature types -> MLflow column types
_TYPES = {1: "binary", 2: "long", 3: "float"}  # schema_pb2.FeatureType: BYTES, INT, FLOAT


class PipelineDataset(MetaDataset):
    """A :class:`MetaDataset` whose profile is the examples per split."""

    def __init__(self, source, name: str, digest: str, schema: Optional[Schema], counts: Dict[str, int]):
        self._counts = dict(counts)
        super().__init__(source=source, name=name, digest=digest, schema=schema)

    @property
    def profile(self):
        return {"examples": self._counts, "num_rows": sum(self._counts.values())}

    def to_dict(self) -> dict:
        return {**super().to_dict(), "profile": json.dumps(self.profile)}


def schema_columns(schema_path: Optional[str]) -> Optional[Schema]:
    """The columns of a TFX ``schema.pbtxt`` as an MLflow Schema (None when there is no schema)."""
    if not schema_path or not Path(schema_path).exists():
        return None
    import tensorflow_data_validation as tfdv

    schema = tfdv.load_schema_text(schema_path)
    return Schema([ColSpec(_TYPES.get(f.type, "string"), f.name) for f in schema.feature]) or None


def pipeline_dataset(input_base: str, digest: str, counts: Dict[str, int],
                     schema_path: Optional[str]) -> PipelineDataset:
    with warnings.catch_warnings():  # MLflow registers its local source twice, then warns that both match
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(input_base)
    return PipelineDataset(source, Path(input_base).name, digest,
                           schema_columns(schema_path), counts)
