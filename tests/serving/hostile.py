"""Helpers for the hostile-input tests: raw HTTP over a socket, good requests, seeded junk."""
from __future__ import annotations

import http.client
import json
import random
import socket
import string
from typing import Optional, Tuple

import grpc
import numpy as np
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import predict_pb2

GOOD_BODY = {"instances": [[1.0, 2.0], [3.0, 4.5]]}
GOOD_ANSWER = {"predictions": [3.0, 7.5]}


def raw_request(method: str, path: str, body: bytes = b"", headers: Optional[dict] = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    given = {"Content-Length": str(len(body))} if headers is None else headers
    lines += [f"{k}: {v}" for k, v in given.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(port: int, data: bytes, timeout_s: float = 15.0) -> Tuple[Optional[int], bytes]:
    """(status, body) the server answers to raw bytes; (None, b"") when it closes without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        try:
            sock.sendall(data)
        except OSError:  # it may answer and close before reading everything (an oversized body)
            pass
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, ConnectionError):
            return None, b""


def chunked(body: bytes, rng: random.Random) -> bytes:
    out, i = b"", 0
    while i < len(body):
        n = rng.randint(1, 16)
        out += f"{len(body[i:i + n]):x}\r\n".encode() + body[i:i + n] + b"\r\n"
        i += n
    return out + b"0\r\n\r\n"


def good_rest(port: int) -> None:
    body = json.dumps(GOOD_BODY).encode()
    status, answer = exchange(port, raw_request("POST", "/v1/models/adder:predict", body))
    assert status == 200 and json.loads(answer) == GOOD_ANSWER, (status, answer)


def good_predict_request() -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "adder"
    x = request.inputs["x"]
    x.dtype = 1  # DT_FLOAT
    x.tensor_shape.dim.add(size=2)
    x.tensor_shape.dim.add(size=2)
    x.float_val.extend([1.0, 2.0, 3.0, 4.5])
    return request


def good_grpc(stub) -> None:
    response = stub.Predict(good_predict_request(), timeout=30)
    assert list(np.frombuffer(response.outputs["y"].tensor_content, np.float32)) == [3.0, 7.5]


# ---- seeded junk --------------------------------------------------------------------------------
KEYS = ["instances", "inputs", "signature_name", "examples", "context", "b64", "x", "inputs", "y", ""]


def junk_json(rng: random.Random, depth: int = 0):
    kind = rng.choice("nfsbzld" if depth < 4 else "nfsbz")
    if kind == "n":
        return rng.choice([0, 1, -1, 2 ** 63, -(2 ** 64), 10 ** 30, rng.randint(-9, 9)])
    if kind == "f":
        return rng.choice([0.5, -1e308, 1e-320, float("inf"), float("nan"), rng.uniform(-5, 5)])
    if kind == "s":
        return "".join(rng.choice(string.printable + "\u00e9\u4e2d\U0001f600") for _ in range(rng.randint(0, 12)))
    if kind == "b":
        return rng.choice([True, False])
    if kind == "z":
        return None
    if kind == "l":
        return [junk_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(KEYS): junk_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op, i = rng.choice("fdit"), rng.randrange(max(1, len(data)))
        if op == "f" and data:
            data[i] = rng.randrange(256)
        elif op == "d" and data:
            del data[i]
        elif op == "i":
            data[i:i] = bytes([rng.choice(b'{}[]",:0-e.\\\xff\xc3\x00')])
        elif op == "t":
            data = data[:i]
    return bytes(data)


def junk_tensor(rng: random.Random) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=rng.choice([0, 1, 2, 3, 4, 6, 7, 9, 10, 14, 19, 20, 21, 23, 99, 1000]))
    for _ in range(rng.randint(0, 4)):
        proto.tensor_shape.dim.add(size=rng.choice([0, 1, 2, 2, 3, -1, -7, 2 ** 31, 2 ** 40]))
    proto.tensor_shape.unknown_rank = rng.random() < 0.05
    fill = rng.choice("cfsie")
    if fill == "c":
        proto.tensor_content = rng.randbytes(rng.choice([0, 1, 3, 8, 16, 17, 64]))
    elif fill == "f":
        proto.float_val.extend(rng.uniform(-9, 9) for _ in range(rng.randint(0, 6)))
    elif fill == "s":
        proto.string_val.extend(rng.randbytes(rng.randint(0, 8)) for _ in range(rng.randint(0, 4)))
    elif fill == "i":
        proto.int_val.extend(rng.randint(-2 ** 31, 2 ** 31 - 1) for _ in range(rng.randint(0, 6)))
    return proto


def junk_predict_request(rng: random.Random) -> predict_pb2.PredictRequest:
    request = good_predict_request() if rng.random() < 0.5 else predict_pb2.PredictRequest()
    request.model_spec.name = rng.choice(["adder", "adder", "regressor", "", "..", "../outside", "%2e%2e", "no"])
    request.model_spec.signature_name = rng.choice(["", "", "serving_default", "regress", "nope"])
    if rng.random() < 0.1:
        request.model_spec.version.value = rng.choice([1, 2, -1, 2 ** 62])
    if rng.random() < 0.05:
        request.model_spec.version_label = "stable"
    for _ in range(rng.randint(0, 2)):
        request.inputs[rng.choice(["x", "x", "inputs", "y", "\u00e9"])].CopyFrom(junk_tensor(rng))
    if rng.random() < 0.1:
        request.output_filter.append(rng.choice(["y", "nope"]))
    return request


REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNIMPLEMENTED}
