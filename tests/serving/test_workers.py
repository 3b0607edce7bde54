"""``serving.workers``: extra server processes share the gRPC port and stop with the server."""
import os
import time

import grpc
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc, regression_pb2

from tests.serving.servers import ServerProcess, save_regressor

pytestmark = [pytest.mark.e2e]


def children(pid: int):
    path = f"/proc/{pid}/task/{pid}/children"
    return [int(c) for c in open(path).read().split()] if os.path.exists(path) else []


def test_workers_share_the_grpc_port_and_stop_with_the_server(tmp_path):
    save_regressor(tmp_path / "regressor" / "1")
    server = ServerProcess("edgeflow", tmp_path, tmp_path / "server.log", extra=["--set", "serving.workers=2"])
    try:
        server.wait_available("regressor")
        [worker] = children(server.process.pid)
        time.sleep(1.0)
        request = regression_pb2.RegressionRequest()
        request.model_spec.name, request.model_spec.signature_name = "regressor", "regress"
        request.input.example_list.examples.add().features.feature["x"].float_list.value.extend([1.0, 2.0])
        for _ in range(8):  # a channel per request: new connections, spread over the workers by the kernel
            with grpc.insecure_channel(server.target) as channel:
                response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(request, timeout=60)
                assert [r.value for r in response.result.regressions] == [3.0]
    finally:
        code = server.stop()
    assert code == 0
    assert not os.path.exists(f"/proc/{worker}") or "Z" in open(f"/proc/{worker}/stat").read().split()[2]
