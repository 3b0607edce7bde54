"""Data lineage of a model, and the resolver that takes the last blessed model as a baseline only within it.

A model is compared with "the last blessed model on the same eval data" only when that model was
trained for the same thing: the same pipeline (image / sequence / detection), the same label set (or,
for forecasts, the same target column and horizon) and, unless ``eval.compare_across_data=true``, the
same data source. Otherwise a model trained on another data set would be scored on this run's eval
split and could refuse a good model (or bless a bad one) by chance.

The record (:func:`lineage`) is built once per run from the checked data and travels in the
Trainer's ``custom_config`` under ``"lineage"``, so ML Metadata keeps it with the Trainer's execution
for every Model it produced (TFMA's Evaluator and the image pipeline need no change).
:class:`LatestBlessedSameLineage`, a TFX resolver strategy, reads it back for the last blessed model
and drops that model as a baseline when the lineages differ, saying so in one sentence on the console.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

log = logging.getLogger("edgeflow")
KEY = "lineage"  # in the Trainer's custom_config


def lineage(pipeline: str, source: str, fingerprint: str, labels: Sequence[str]) -> Dict[str, object]:
    """The record: `labels` are the class names, or ``("target=<column>", "horizon=<H>")`` for a forecast."""
    return {"pipeline": pipeline, "source": os.path.abspath(os.path.expanduser(str(source))),
            "fingerprint": fingerprint, "labels": [str(x) for x in labels]}


def fingerprint_files(paths: Sequence[str], root: str = "") -> str:
    """A short fingerprint of a data set: relative names and sizes of `paths` (not their bytes: cheap on big
    folders), or, for a single file, its bytes."""
    h = hashlib.sha1()
    if len(paths) == 1 and os.path.isfile(paths[0]):
        with open(paths[0], "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()[:16]
    for p in sorted(str(p) for p in paths):
        h.update(f"{os.path.relpath(p, root) if root else p}\0{os.path.getsize(p)}\n".encode())
    return h.hexdigest()[:16]


def describe(record: Dict[str, object]) -> str:
    return (f"{record.get('pipeline')} on {record.get('source')} with labels "
            f"{', '.join(record.get('labels') or []) or '(none)'}")


def compare(current: Dict[str, object], previous: Optional[Dict[str, object]],
            across_data: bool = False) -> Tuple[bool, str]:
    """(same lineage, why not). `previous` is None for a model trained before lineage was recorded."""
    if previous is None:
        return False, "it has no lineage record (trained before edgeflow recorded one)"
    if previous.get("pipeline") != current["pipeline"]:
        return False, f"it was trained by the {previous.get('pipeline')} pipeline"
    if list(previous.get("labels") or []) != list(current["labels"]):
        return False, f"its labels differ ({', '.join(previous.get('labels') or [])})"
    if not across_data and previous.get("source") != current["source"]:
        return False, f"it was trained on another data source ({previous.get('source')})"
    return True, ""


def _trainer_lineage(store, model_id: int) -> Optional[Dict[str, object]]:
    """The ``lineage`` in the custom_config of the execution that produced Model `model_id`, or None."""
    from ml_metadata.proto import metadata_store_pb2

    outputs = [e.execution_id for e in store.get_events_by_artifact_ids([model_id])
               if e.type == metadata_store_pb2.Event.OUTPUT]
    for execution in store.get_executions_by_id(outputs):
        value = execution.custom_properties.get("custom_config")
        if value is not None and value.string_value:
            try:
                record = json.loads(value.string_value).get(KEY)
            except (ValueError, AttributeError):
                record = None
            if isinstance(record, dict):
                return record
    return None


class LatestBlessedSameLineage(LatestBlessedModelStrategy):
    """TFX's LatestBlessedModelStrategy, kept only when the model's lineage matches this run's (see module doc)."""

    def __init__(self, lineage: str = "{}", across_data: bool = False):
        self._lineage = json.loads(lineage)
        self._across_data = bool(across_data)

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]):
        result = super().resolve_artifacts(store, input_dict)
        newest = _model_of(result)
        if newest is None or not self._lineage:
            return result
        same, why = compare(self._lineage, _trainer_lineage(store, newest.id), self._across_data)
        if same:
            return result
        # An older blessed model of the same lineage is still a baseline (data A, then B, then A again).
        kept = {key: [a for a in arts if not isinstance(a, types.standard_artifacts.Model) or
                      compare(self._lineage, _trainer_lineage(store, a.id), self._across_data)[0]]
                for key, arts in input_dict.items()}
        older = super().resolve_artifacts(store, kept)
        found = _model_of(older)
        log.info("The last blessed model is not a baseline for this run: %s; %s", why,
                 f"comparing with model {found.id}, the last blessed one of this lineage." if found else
                 "the new model is blessed on its own bars (eval.compare_across_data=true compares across "
                 "data sources).")
        return older if found else {key: [] for key in result}


def _model_of(result) -> Optional[types.Artifact]:
    models = [a for v in (result or {}).values() for a in v if isinstance(a, types.standard_artifacts.Model)]
    return models[0] if models else None
