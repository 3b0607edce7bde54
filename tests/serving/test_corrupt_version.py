"""A corrupt SavedModel dropped into a served root (issue 21, item 6): it is reported in the
model's status, never served, and the version before it answers every request meanwhile."""
import os
import shutil
import time

import pytest
from tensorflow_serving.apis import get_model_status_pb2

from tests.serving.hostile import good_rest
from tests.serving.servers import ServerProcess, http, save_adder

pytestmark = [pytest.mark.slow]
State = get_model_status_pb2.ModelVersionStatus.State


def drop_version(root, version: int, fill) -> None:
    """Writes a version aside and renames it in (as a Pusher does), so the server sees it whole."""
    staging = root / f".staging-{version}"
    fill(staging)
    os.rename(staging, root / "adder" / str(version))


def wait_for_state(server, version: int, state: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        good_rest(server.rest_port)  # the served version keeps answering throughout
        code, body = http("GET", f"{server.rest}/adder")
        versions = {int(v["version"]): v for v in body.get("model_version_status", [])}
        if code == 200 and versions.get(version, {}).get("state") == state:
            return versions[version]
        time.sleep(0.3)
    raise AssertionError(f"version {version} did not reach {state}: {body}")


def test_corrupt_versions_are_reported_and_the_old_one_keeps_serving(tmp_path):
    root = tmp_path / "root"
    save_adder(root / "adder" / "1")
    save_adder(tmp_path / "good")
    pb = (tmp_path / "good" / "saved_model.pb").read_bytes()
    server = ServerProcess("edgeflow", root, tmp_path / "server.log", extra=[])
    try:
        server.wait_available("adder")

        def garbage(path):
            path.mkdir()
            (path / "saved_model.pb").write_bytes(b"\x08\x96\x01not a SavedModel" * 50)

        def truncated(path):
            shutil.copytree(tmp_path / "good", path)
            (path / "saved_model.pb").write_bytes(pb[:len(pb) // 2])

        for version, fill in ((2, garbage), (3, truncated)):
            drop_version(root, version, fill)
            status = wait_for_state(server, version, "END")
            assert status["status"]["error_code"] == "UNKNOWN" and "loading failed" in status["status"]["error_message"]
            code, body = http("POST", f"{server.rest}/adder/versions/{version}:predict", {"instances": [[1, 2]]})
            assert code == 404, body
            code, body = http("GET", f"{server.rest}/adder/versions/1")
            assert body["model_version_status"][0]["state"] == "AVAILABLE"
        drop_version(root, 4, lambda path: shutil.copytree(tmp_path / "good", path))  # a good one is swapped in
        wait_for_state(server, 4, "AVAILABLE")
        code, body = http("POST", f"{server.rest}/adder:predict", {"instances": [[1, 2]]})
        assert code == 200 and body == {"predictions": [3.0]}
    finally:
        assert server.stop() == 0
    assert "Traceback" not in open(tmp_path / "server.log").read()
