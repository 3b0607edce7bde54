"""Shared fixtures. `tiny_image_run` runs the real image pipeline once per test session
(tiny preset, ~30 s on 2 cores) so every test that needs a trained, pushed model reuses it."""
import edgeflow  # noqa: F401 - environment first (legacy Keras, quiet TF)

import os

import pytest

from edgeflow.config import load_config

# the small digits CNN and its TFLite variants, shared by tests/edge and tests/components/edge_export
pytest_plugins = ["tests.edge_fixtures"]

# Fixtures that run a whole pipeline: a test that asks for one is an e2e test, whatever its file says,
# so `make test-fast` (-m "not e2e") never starts a pipeline.
PIPELINE_FIXTURES = {"tiny_image_run", "pushed_image_model", "tiny_detection_run"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if PIPELINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _mlflow_tracking_uri_restored():
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; a test that connects outside tracked_run
    must not hand its store to the subprocesses of later tests (the CLI reads that variable)."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="session")
def tiny_image_run(tmp_path_factory):
    """(cfg, RunOutcome) of one tiny image pipeline run with embedded MLflow."""
    from edgeflow.pipelines.runner import run_pipeline

    out = tmp_path_factory.mktemp("tiny-image")
    cfg = load_config("image", "tiny", updates={"output": str(out)})
    return cfg, run_pipeline(cfg)


@pytest.fixture(scope="session")
def pushed_image_model(tiny_image_run):
    """Path of the SavedModel pushed by the tiny run: <serving root>/<model>/<version>/."""
    _, outcome = tiny_image_run
    assert outcome.results.pushed_path, "the tiny run was expected to bless and push its model"
    return outcome.results.pushed_path


@pytest.fixture(scope="session")
def tiny_detection_run(tmp_path_factory):
    """(cfg, RunOutcome) of one tiny detection pipeline run (generated digit canvases, ~1-2 min)."""
    from edgeflow.pipelines.runner import run_pipeline

    out = tmp_path_factory.mktemp("tiny-detection")
    cfg = load_config("detection", "tiny", overrides=TINY_DETECTION_OVERRIDES, updates={"output": str(out)})
    return cfg, run_pipeline(cfg)


# More epochs than the shared tiny preset: one epoch of the tiny detection set takes well under a second.
TINY_DETECTION_OVERRIDES = ["train.epochs=40", "train.early_stopping_patience=8"]


@pytest.fixture
def mlflow_server(tmp_path):
    """(url, process) of a real `mlflow server` on loopback, stopped with every process it started."""
    from tests.mlflow_server import mlflow_server as server

    root = tmp_path / "mlflow-server"
    root.mkdir()
    with server(root) as running:
        yield running
