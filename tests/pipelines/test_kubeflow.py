"""`edgeflow compile image --target kubeflow`: TFX's KubeflowV2DagRunner writes a spec naming every component."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_kubeflow_spec_compiles_and_names_every_component(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "edgeflow.pipelines.cli", "compile", "image", "--target", "kubeflow",
         "--preset", "tiny", "--output", str(tmp_path), "--set", "kubeflow.image=registry.local/edgeflow:1",
         "--set", "kubeflow.schedule=0 2 * * *", "--beam-runner", "DirectRunner"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    job = json.loads((tmp_path / "kubeflow" / "image.json").read_text())
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert set(tasks) >= {"ImageFolderExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
                          "Transform", "Trainer", "Evaluator", "Pusher"}
    assert any("LatestBlessedModel" in name for name in tasks)
    images = {c["container"]["image"] for c in job["pipelineSpec"]["deploymentSpec"]["executors"].values()
              if "container" in c}
    assert images == {"registry.local/edgeflow:1"}
    assert json.loads((tmp_path / "kubeflow" / "image.schedule.json").read_text())["cron"] == "0 2 * * *"


def test_kubeflow_compile_rejects_a_bad_schedule(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgeflow.pipelines.cli", "compile", "image", "--preset", "tiny",
                           "--output", str(tmp_path), "--set", "kubeflow.schedule=nightly"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "cron expression 'nightly' is not valid" in proc.stderr
