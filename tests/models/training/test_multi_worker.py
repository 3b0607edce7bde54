"""train.distribute=multi_worker really run: two worker processes on loopback (TF_CONFIG naming two
free local ports) train the same tiny image task with the skeleton; the result matches one process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.mlflow_server import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _start(out, name, distribute, tf_config=None, tmp=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    if tmp:  # where a worker's scratch folder goes
        env["TMPDIR"] = str(tmp)
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, "-m", "tests.models.training.multi_worker_run", str(out), name, distribute],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs):
    try:
        for proc in procs:  # a loaded 2-core machine: three TensorFlow processes take minutes
            output, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0, output[-3000:]
    finally:  # a failed worker leaves the other waiting for it for ever
        for proc in procs:
            proc.kill()


@pytest.mark.slow
def test_two_workers_on_loopback_train_and_the_chief_alone_writes(tmp_path):
    workers = [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    dirs = [tmp_path / "w0", tmp_path / "w1"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    procs = [_start(d, f"worker{i}", "multi_worker",
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}, scratch)
             for i, d in enumerate(dirs)]
    single = _start(tmp_path / "single", "single", "none")
    _wait(procs + [single])
    results = [json.loads((d / f"worker{i}.json").read_text()) for i, d in enumerate(dirs)]
    alone = json.loads((tmp_path / "single" / "single.json").read_text())
    for result in results:  # both trained, every epoch, in one cluster
        assert result["epochs"] == [1, 2, 3]
        assert result["strategy"] == "CollectiveAllReduceStrategy"
    # the chief (worker 0) wrote the run; worker 1 wrote into a scratch folder that is gone
    chief = dirs[0] / "run" / "model_run"
    assert [r["epoch"] for r in json.loads((chief / "history.json").read_text())] == [1, 2, 3]
    assert (chief / "keras" / "model.keras").exists() and (dirs[0] / "run" / "serving" / "saved_model.pb").exists()
    assert not (dirs[1] / "run").exists()
    assert not os.listdir(scratch)
    # synchronous training: both workers end with the same weights, and those of one process on the same data
    for a, b in zip(results[0]["weights"], results[1]["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(results[0]["weights"], alone["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0]["losses"], alone["losses"], rtol=1e-5)
    np.testing.assert_allclose(results[0]["probabilities"], alone["probabilities"], atol=1e-5)
