"""MLflow as the record of a run, against a real `mlflow server` started here on loopback."""
import os
import shutil
import subprocess
import sys
import time

import mlflow
import pytest

from edgeflow.config import load_config
from edgeflow.pipelines.tracking.runs import TrackingError, fingerprint, tracked_run
from tests.mlflow_server import free_port, stop_group, wait_http


def test_a_server_that_is_down_gets_one_sentence_quickly(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_config("image", "tiny", updates={"output": str(tmp_path),
                                                "tracking": {"uri": f"http://127.0.0.1:{free_port()}"}})
    t0 = time.time()
    with pytest.raises(TrackingError, match="cannot reach the MLflow tracking store .* or run with --no-tracking"):
        with tracked_run(cfg):
            pass
    assert time.time() - t0 < 60
    # not left exported: a later run in this process (and its components) would follow it
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_a_server_lost_mid_run_costs_only_named_records(mlflow_server, tmp_path, tiny_image_run, monkeypatch):
    from edgeflow.pipelines.tracking.runs import log_results

    url, proc = mlflow_server
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    cfg = load_config("image", "tiny", updates={"output": str(tmp_path), "tracking": {"uri": url}})
    with tracked_run(cfg):
        stop_group(proc)
        with pytest.raises(ProcessLookupError):  # the server's workers and job runner went with it
            os.killpg(proc.pid, 0)
        unwritten = log_results(cfg, tiny_image_run[1].results)
    assert "the train step" in unwritten and "the registered model" in unwritten
    assert mlflow.active_run() is None  # the next run in this process starts clean


def test_fingerprint_follows_content_not_location(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "x").mkdir(parents=True)
        (root / "x" / "1.png").write_bytes(b"same")
    assert fingerprint(str(a)) == fingerprint(str(b))
    (b / "x" / "1.png").write_bytes(b"changed")
    assert fingerprint(str(a)) != fingerprint(str(b))


@pytest.mark.e2e
def test_edgeflow_ui_serves_the_experiment_page_in_a_headless_browser(tiny_image_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium where apt is available)")
    cfg, _ = tiny_image_run
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "edgeflow.pipelines.cli", "ui", "--output", str(cfg.output_dir),
                           "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", ui)
        exp = mlflow.tracking.MlflowClient(cfg.tracking_uri).get_experiment_by_name(cfg.experiment)
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                              "--no-first-run", "--disable-background-networking", "--disable-component-update",
                              "--disable-sync", f"--user-data-dir={tmp_path / 'chrome'}",
                              "--virtual-time-budget=15000", "--dump-dom",
                              f"http://127.0.0.1:{port}/#/experiments/{exp.experiment_id}"],
                             capture_output=True, text=True, timeout=120).stdout
        assert "MLflow" in dom and cfg.experiment in dom
    finally:
        stop_group(ui)
