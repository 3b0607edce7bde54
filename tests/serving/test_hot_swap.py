"""A new model version appears while clients keep calling: the server swaps to it, retires the
old one, and not one request fails."""
import base64
import threading
import time

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, predict_pb2, \
    prediction_service_pb2_grpc

from tests.serving.servers import IMPLEMENTATIONS, ServerProcess, add_version, http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
State = get_model_status_pb2.ModelVersionStatus.State


def states(stub) -> dict:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "image"
    return {s.version: s.state for s in stub.GetModelStatus(request, timeout=30).model_version_status}


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_new_version_is_swapped_in_under_load_without_failed_requests(implementation, pushed_image_model,
                                                                      tmp_path):
    (tmp_path / "image").mkdir()
    add_version(tmp_path / "image", pushed_image_model, 1)
    server = ServerProcess(implementation, tmp_path, tmp_path / "server.log")
    png = tf.io.encode_png(tf.zeros([8, 8, 1], tf.uint8)).numpy()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "image"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([png]))
    body = {"instances": [{"b64": base64.b64encode(png).decode()}]}
    failures, versions, counts = [], set(), {"grpc": 0, "rest": 0}
    stop = threading.Event()

    def grpc_client(stub):
        while not stop.is_set():
            try:
                versions.add(stub.Predict(request, timeout=30).model_spec.version.value)
                counts["grpc"] += 1
            except grpc.RpcError as err:
                failures.append(f"gRPC {err.code()}: {err.details()}")

    def rest_client():
        while not stop.is_set():
            code, answer = http("POST", f"{server.rest}/image:predict", body)
            counts["rest"] += 1
            if code != 200:
                failures.append(f"REST {code}: {answer}")

    try:
        server.wait_available("image")
        channel = grpc.insecure_channel(server.target)
        predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        status_stub = model_service_pb2_grpc.ModelServiceStub(channel)
        clients = [threading.Thread(target=grpc_client, args=(predict_stub,)) for _ in range(3)]
        clients.append(threading.Thread(target=rest_client))
        for client in clients:
            client.start()
        time.sleep(1.0)
        add_version(tmp_path / "image", pushed_image_model, 2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (states(status_stub).get(1) == State.END and 2 in versions):
            time.sleep(0.3)
        time.sleep(1.0)  # keep calling version 2 for a while
        stop.set()
        for client in clients:
            client.join(timeout=60)
        final = states(status_stub)
        channel.close()
    finally:
        stop.set()
        exit_code = server.stop()  # SIGTERM
    assert failures == []
    assert exit_code == 0 or implementation != "edgeflow", "edgeflow serve should stop cleanly on SIGTERM"
    assert versions == {1, 2}, "the clients should have been answered by both versions"
    assert final[2] == State.AVAILABLE and final.get(1, State.END) == State.END
    assert counts["grpc"] > 10 and counts["rest"] > 3
