"""Which variants EdgeExport builds, in which child processes, and when it fine-tunes.

``export.variants=auto`` (the default) follows TFMOT's guidance: post-training quantization
first (float32, float16, dynamic, full-integer int8), and the fine-tuned variants
(``export.fallback_variants``, QAT by default) only when full-integer PTQ misses
``export.max_metric_change`` (or, with target ``edgetpu``, does not map to the Edge TPU). The
fine-tuned variants are all full-integer, so int8 PTQ is the one they would replace. A
comma-separated ``export.variants`` builds exactly those variants and never adds any.

Conversions run in child processes (:mod:`edgeflow.components.edge_export.convert`) grouped into
jobs: the variants that need neither calibration nor TFMOT share one child (it loads the model
once); full-integer and fine-tuned variants, which can crash the converter, get a child each.
Independent jobs run in parallel, one per core.
"""
from __future__ import annotations

import os
from typing import List, Tuple

SHARED_CHILD = ("float32", "float16", "dynamic")  # no calibration, no TFMOT: never seen to crash
FULL_INTEGER_PTQ = ("int8",)


def conversion_jobs(variants: Tuple[str, ...]) -> List[Tuple[str, ...]]:
    """`variants` grouped into child-process jobs: the shared ones together, every other alone."""
    shared = tuple(v for v in variants if v in SHARED_CHILD)
    return ([shared] if shared else []) + [(v,) for v in variants if v not in SHARED_CHILD]


def workers(jobs: int) -> int:
    """Jobs run at once: one per core, never more than there are jobs."""
    return max(1, min(jobs, os.cpu_count() or 1))


def acceptable(row: dict, target: str, max_metric_change: float) -> bool:
    """A measured row the policy could ship: built, within the bar, and mapped to the target."""
    return ("error" not in row and row["degradation"] <= max_metric_change + 1e-9
            and (target != "edgetpu" or row.get("edgetpu_compatible", False)))


def needs_fine_tuning(rows: dict, target: str, max_metric_change: float) -> bool:
    """True when no full-integer PTQ variant in `rows` is acceptable (missing or failed counts as a miss)."""
    return not any(acceptable(rows[v], target, max_metric_change) for v in FULL_INTEGER_PTQ if v in rows)


def fine_tuning_reason(rows: dict, target: str, max_metric_change: float, metric: str) -> str:
    """Why the fine-tuned variants were built, in one clause for the console and the report."""
    row = rows.get("int8")
    if row is None:
        return "int8 PTQ was not built"
    if "error" in row:
        return "int8 PTQ failed"
    if row["degradation"] > max_metric_change + 1e-9:
        return (f"int8 PTQ is {row['degradation']:+.4f} worse in {metric}, past "
                f"export.max_metric_change={max_metric_change}")
    return "int8 PTQ does not map entirely to the Edge TPU"
