"""Stops and workers of `edgeflow serve`: extra worker processes share the gRPC port and answer
requests themselves; SIGTERM or SIGINT stops every process of the tree; a request in flight
when SIGTERM comes is answered before the server exits."""
import json
import os
import signal
import socket
import time

import grpc
import psutil
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc, regression_pb2

from tests.serving.hostile import GOOD_ANSWER, GOOD_BODY, good_rest
from tests.serving.servers import ServerProcess, save_adder, save_regressor

pytestmark = [pytest.mark.slow]


def regress_request() -> regression_pb2.RegressionRequest:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "regressor", "regress"
    request.input.example_list.examples.add().features.feature["x"].float_list.value.extend([1.0, 2.0])
    return request


def regress_on_a_new_connection(target: str, timeout_s: float) -> bool:
    """True when a Regress call on a fresh TCP connection (the kernel picks the process) is answered 3.0."""
    options = [("grpc.use_local_subchannel_pool", 1)]  # a connection of its own, not a shared one
    with grpc.insecure_channel(target, options=options) as channel:
        try:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(regress_request(),
                                                                                          timeout=timeout_s)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err
            return False
    assert [r.value for r in response.result.regressions] == [3.0]
    return True


def listens(process: psutil.Process, port: int) -> bool:
    """True when `process` holds a listening TCP socket on `port` (the worker binds it once it serves)."""
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_workers_answer_on_the_shared_port_and_stop_with_the_server(tmp_path, sig):
    save_regressor(tmp_path / "regressor" / "1")
    server = ServerProcess("edgeflow", tmp_path, tmp_path / "server.log", extra=["--set", "serving.workers=2"])
    main = psutil.Process(server.process.pid)
    try:
        server.wait_available("regressor")
        deadline = time.monotonic() + 120  # the worker loads its models after the main process
        while time.monotonic() < deadline and not regress_on_a_new_connection(server.target, 5):
            time.sleep(0.5)
        [worker] = main.children(recursive=True)
        listen_deadline = time.monotonic() + 180  # a loaded machine: the worker may still be loading its model
        while time.monotonic() < listen_deadline and not listens(worker, server.grpc_port):
            time.sleep(0.5)
        assert listens(worker, server.grpc_port), "the worker process never listened on the shared gRPC port"
        for _ in range(8):
            assert regress_on_a_new_connection(server.target, 60)
        # with the main process frozen, only the worker can answer: some new connection must be answered
        main.suspend()
        try:
            tries = answered = 0
            frozen_deadline = time.monotonic() + 180
            while time.monotonic() < frozen_deadline and answered < 3:  # new connections land on either process
                answered += regress_on_a_new_connection(server.target, 3)
                tries += 1
        finally:
            main.resume()
        assert answered >= 1, "the worker process answered no request while the main process was stopped"
        print(f"\nworker alone answered {answered} of {tries} new connections")
        server.process.send_signal(sig)
        code = server.process.wait(timeout=60)
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.log.close()
    assert code == 0, open(server.log.name).read()[-2000:]
    time.sleep(0.5)
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


def test_a_request_in_flight_at_sigterm_is_answered(tmp_path):
    save_adder(tmp_path / "adder" / "1")
    server = ServerProcess("edgeflow", tmp_path, tmp_path / "server.log")
    body = json.dumps(GOOD_BODY).encode()
    try:
        server.wait_available("adder")
        good_rest(server.rest_port)
        with socket.create_connection(("127.0.0.1", server.rest_port), timeout=30) as sock:
            sock.sendall(b"POST /v1/models/adder:predict HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
                         + body[:10])
            time.sleep(0.5)  # the server is reading the body
            os.kill(server.process.pid, signal.SIGTERM)
            time.sleep(1.0)
            assert server.process.poll() is None, "the server exited with a request in flight"
            sock.sendall(body[10:])
            answer = b""
            while part := sock.recv(4096):
                answer += part
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and json.loads(payload) == GOOD_ANSWER, answer
        assert server.process.wait(timeout=60) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.log.close()
