"""The candidate's overall eval metrics, read from an evaluator's output artifact.

TFMA's Evaluator (image) writes its metrics for :func:`tfma.load_metrics`; edgeflow's own
evaluators (sequence, detection) write ``metrics.json``. Both read the same way from here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict


def read_eval_metrics(evaluation_uri: str) -> Dict[str, float]:
    """Overall-slice metrics of the candidate model: ``accuracy``, ``example_count``,
    ``precision/class_3`` ... (baseline and diff values are left out)."""
    custom = Path(evaluation_uri) / "metrics.json"  # written by evaluators that do not use TFMA
    if custom.exists():
        return {k: float(v) for k, v in json.loads(custom.read_text()).items()}
    import tensorflow_model_analysis as tfma

    out: Dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for kv in slice_metrics.metric_keys_and_values:
            key, value = kv.key, kv.value
            if key.is_diff or key.model_name not in ("", "candidate"):
                continue
            if not value.HasField("double_value"):
                continue
            name = {"sparse_categorical_accuracy": "accuracy"}.get(key.name, key.name)
            if key.sub_key.HasField("class_id"):
                name = f"{name}/class_{key.sub_key.class_id.value}"
            out[name] = value.double_value.value
    return out
