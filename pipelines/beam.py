"""Beam pipeline arguments from ``--beam-runner`` and ``--beam-arg`` (see docs/scaling.md).

Locally, ``--beam-runner DirectRunner --beam-arg=--direct_running_mode=multi_processing
--beam-arg=--direct_num_workers=2`` spreads Beam's work over processes; DataflowRunner,
FlinkRunner and SparkRunner take the same pipeline with the arguments the docs list.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from edgeflow import EdgeflowError

# Beam 2.59's StandardOptions.KNOWN_RUNNER_NAMES (kept here so a typo is caught before Beam loads).
RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner", "PrismRunner",
           "BundleBasedDirectRunner", "SwitchingDirectRunner", "InteractiveRunner", "TestDirectRunner",
           "TestDataflowRunner")


class BeamArgsError(EdgeflowError):
    pass


def beam_args(runner: Optional[str], extra: Sequence[str] = ()) -> List[str]:
    """``--runner=<runner>`` (checked) followed by `extra`, as Beam's PipelineOptions expects."""
    args = list(extra)
    if runner:
        if runner not in RUNNERS:
            raise BeamArgsError(f"Beam runner {runner!r} does not exist; choose one of {', '.join(RUNNERS[:7])}")
        args = [f"--runner={runner}", *args]
    for a in args:
        if not a.startswith("--"):
            raise BeamArgsError(f"Beam argument {a!r} must start with '--', e.g. --beam-arg=--direct_num_workers=2")
    return args
