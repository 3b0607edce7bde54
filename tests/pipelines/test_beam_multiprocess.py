"""The tiny image pipeline on Beam's DirectRunner in multi-process mode (2 workers), as `--beam-arg` passes it."""
import pytest

from edgeflow.pipelines.beam import beam_args
from edgeflow.config import load_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_tiny_pipeline_runs_on_multiprocess_direct_runner(tmp_path):
    from edgeflow.pipelines.runner import run_pipeline

    cfg = load_config("image", "tiny", overrides=["tracking.enabled=false", "export.enabled=false"],
                      updates={"output": str(tmp_path)})
    args = beam_args("DirectRunner", ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    outcome = run_pipeline(cfg, args)
    counts = outcome.results.example_counts
    assert counts["train"] + counts["eval"] == 300  # every image, read by worker processes
    assert outcome.results.blessed and outcome.results.pushed_path
