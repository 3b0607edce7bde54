"""Which variants EdgeExport builds, in which child processes, and when it fine-tunes.

``export.variants=auto`` (the default) follows TFMOT's guidance: post-training quantization
first (float32, float16, dynamic, full-integer int8). When int8 PTQ misses
``export.max_metric_change``, it next builds the other full-integer PTQ recipe, int16x8 (16-bit
activations, 8-bit weights: where 8-bit activations lose a small signal, as a forecaster's
correction to a large level; not with target ``edgetpu``, which runs int8 only). Only when no
full-integer PTQ variant meets the bar (or, with target ``edgetpu``, maps to the Edge TPU) does it
build the fine-tuned variants (``export.fallback_variants``, QAT by default), which are all
full-integer and so replace PTQ's. A comma-separated ``export.variants`` builds exactly those
variants and never adds any.

Conversions run in child processes (:mod:`edgeflow.components.edge_export.convert`) grouped into
jobs: the variants that need neither calibration nor TFMOT share one child (it loads the model
once); full-integer and fine-tuned variants, which can crash the converter, get a child each.
Independent jobs run in parallel, one per core.
"""
from __future__ import annotations

import os
from typing import List, Tuple

SHARED_CHILD = ("float32", "float16", "dynamic")  # no calibration, no TFMOT: never seen to crash
WIDE_PTQ = ("int16x8",)  # full-integer PTQ with 16-bit activations: tried when int8 PTQ misses the bar
FULL_INTEGER_PTQ = ("int8",) + WIDE_PTQ


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


def wide_ptq_variants(rows: dict, target: str, max_metric_change: float) -> tuple:
    """The int16x8 PTQ variants to build next: when int8 PTQ was built and missed (or failed), for a CPU
    target (the Edge TPU runs int8 only), and not built already."""
    if target == "edgetpu" or "int8" not in rows or acceptable(rows["int8"], target, max_metric_change):
        return ()
    return tuple(v for v in WIDE_PTQ if v not in rows)


def needs_fine_tuning(rows: dict, target: str, max_metric_change: float) -> bool:
    """True when no full-integer PTQ variant in `rows` is acceptable (missing or failed counts as a miss)."""
    return not any(acceptable(rows[v], target, max_metric_change) for v in FULL_INTEGER_PTQ if v in rows)


def fine_tuning_reason(rows: dict, target: str, max_metric_change: float, metric: str) -> str:
    """Why the fine-tuned variants were built, in one clause for the console and the report."""
    clauses = [_miss(v, rows[v], target, max_metric_change, metric) for v in FULL_INTEGER_PTQ if v in rows]
    return "; ".join(clauses) if clauses else "int8 PTQ was not built"


def _miss(variant: str, row: dict, target: str, max_metric_change: float, metric: str) -> str:
    if "error" in row:
        return f"{variant} PTQ failed"
    if row["degradation"] > max_metric_change + 1e-9:
        return (f"{variant} PTQ is {row['degradation']:+.4f} worse in {metric}, past "
                f"export.max_metric_change={max_metric_change}")
    return f"{variant} PTQ does not map entirely to the Edge TPU"
