"""Model servers for the contract tests, started on free loopback ports in a subprocess:
``edgeflow serve``, and Google's ``tensorflow_model_server`` when it is on PATH."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

IMPLEMENTATIONS = ["edgeflow", "tensorflow_model_server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None):
    """(HTTP status, parsed JSON body) of a plain HTTP request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def add_version(model_base: Path, source: str, version: int) -> Path:
    """Copies a SavedModel in as <model_base>/<version>, atomically (copy aside, then rename)."""
    staging = model_base.parent / f".staging-{model_base.name}-{version}"
    shutil.copytree(source, staging)
    target = model_base / str(version)
    os.rename(staging, target)
    return target


class ServerProcess:
    def __init__(self, implementation: str, root: Path, log_path: Path, extra=()):
        if implementation == "tensorflow_model_server" and shutil.which("tensorflow_model_server") is None:
            pytest.skip("tensorflow_model_server is not on PATH (Google's C++ server is not installable "
                        "from the package registries here)")
        from edgeflow.serving.layout import write_serving_files

        self.implementation = implementation
        self.grpc_port, self.rest_port = free_port(), free_port()
        config = write_serving_files(root)
        if implementation == "edgeflow":
            edgeflow = os.path.join(os.path.dirname(sys.executable), "edgeflow")
            cmd = [edgeflow, "serve", "--root", str(root), "--port", str(self.grpc_port),
                   "--rest-port", str(self.rest_port), "--set", "serving.poll_seconds=0.5", *extra]
        else:
            cmd = ["tensorflow_model_server", f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}",
                   f"--model_config_file={config}", "--file_system_poll_wait_seconds=1"]
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.rest = f"http://127.0.0.1:{self.rest_port}/v1/models"
        self.target = f"127.0.0.1:{self.grpc_port}"

    def wait_available(self, model: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.implementation} exited with {self.process.returncode}; "
                                   f"see {self.log.name}")
            try:
                status, body = http("GET", f"{self.rest}/{model}")
                if status == 200 and any(v["state"] == "AVAILABLE" for v in body["model_version_status"]):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.implementation} did not serve {model} within {timeout_s}s")

    def stop(self) -> int:
        self.process.terminate()
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log.close()
        return code


def save_regressor(path: Path) -> str:
    """A tiny SavedModel with a regress signature: tf.Examples with float feature ``x`` (2 values)
    -> ``outputs`` = their sum, (B,)."""
    import tensorflow as tf

    from edgeflow.serving.export import REGRESS_METHOD, mark_method_signatures

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):
        x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([2], tf.float32)})["x"]
        return {"outputs": tf.reduce_sum(x, axis=1)}

    tf.saved_model.save(tf.Module(), str(path), signatures={"regress": regress, "serving_default": regress})
    mark_method_signatures(str(path), ["regress"], REGRESS_METHOD)
    return str(path)


def save_adder(path: Path) -> str:
    """A tiny SavedModel with a predict signature: ``x`` float32 (B, 2) -> ``y`` = row sums (B,)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def add(x):
        return {"y": tf.reduce_sum(x, axis=1)}

    tf.saved_model.save(tf.Module(), str(path), signatures={"serving_default": add})
    return str(path)
