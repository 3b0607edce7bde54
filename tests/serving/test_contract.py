"""Contract tests: a server started in a subprocess, called only through TF Serving's own client
stubs and plain HTTP. They run against `edgeflow serve` and, when it is on PATH, against
Google's `tensorflow_model_server` (skipped otherwise)."""
import base64

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
                                     regression_pb2)

from tests.serving.servers import IMPLEMENTATIONS, ServerProcess, add_version, http, save_regressor

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MAX_REQUEST_BYTES = 1 << 20


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def server(request, pushed_image_model, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"serving-{request.param}")
    (root / "image").mkdir()
    add_version(root / "image", pushed_image_model, 1)
    save_regressor(root / "regressor" / "1")
    proc = ServerProcess(request.param, root, root / "server.log",
                         extra=["--set", f"serving.max_request_bytes={MAX_REQUEST_BYTES}"])
    try:
        proc.wait_available("image")
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server.target)
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def png(value: int = 0) -> bytes:
    return tf.io.encode_png(tf.fill([8, 8, 1], tf.constant(value, tf.uint8))).numpy()


def predict_request(inputs: dict, model="image", signature="serving_default", version=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    if version is not None:
        request.model_spec.version.value = version
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return request


def rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value


def test_predict_returns_probabilities_class_ids_and_names(stubs):
    response = stubs[0].Predict(predict_request({"image_bytes": [png(0), png(255)]}), timeout=30)
    probs = tf.make_ndarray(response.outputs["probabilities"])
    assert probs.shape == (2, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert list(tf.make_ndarray(response.outputs["class_id"])) == list(probs.argmax(axis=1))
    assert tf.make_ndarray(response.outputs["class_name"]).shape == (2,)
    assert response.model_spec.name == "image" and response.model_spec.version.value == 1


def test_classify_on_examples(stubs):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "image", "classify"
    example = request.input.example_list.examples.add()
    example.features.feature["image_raw"].bytes_list.value.append(png(0))
    result = stubs[0].Classify(request, timeout=30).result.classifications[0]
    assert [c.label for c in result.classes] == [str(i) for i in range(10)]
    assert abs(sum(c.score for c in result.classes) - 1.0) < 1e-4


def test_rest_classify_answers_like_grpc_classify(stubs, server):
    b64 = {"b64": base64.b64encode(png(0)).decode()}
    code, body = http("POST", f"{server.rest}/image:classify",
                      {"signature_name": "classify", "examples": [{"image_raw": b64}, {"image_raw": b64}]})
    assert code == 200 and len(body["results"]) == 2
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "image", "classify"
    request.input.example_list.examples.add().features.feature["image_raw"].bytes_list.value.append(png(0))
    [result] = stubs[0].Classify(request, timeout=30).result.classifications
    assert [label for label, _ in body["results"][0]] == [c.label for c in result.classes]
    assert np.allclose([score for _, score in body["results"][1]], [c.score for c in result.classes], atol=1e-5)


def test_regress_over_grpc_and_rest(stubs, server):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "regressor", "regress"
    for pair in ([1.0, 2.0], [0.5, -4.0]):
        request.input.example_list.examples.add().features.feature["x"].float_list.value.extend(pair)
    response = stubs[0].Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [3.0, -3.5]
    code, body = http("POST", f"{server.rest}/regressor/versions/1:regress",
                      {"signature_name": "regress", "examples": [{"x": [1.0, 2.5]}, {"x": [2.0, 2.0]}]})
    assert code == 200 and body == {"results": [3.5, 4.0]}


@pytest.mark.parametrize("path, body, status", [
    ("image:classify", {"examples": [{"image_raw": {"b64": "AAAA"}}]}, 400),
    ("image:classify", {"signature_name": "classify", "examples": [{"image_raw": {"b64": "x"}}]}, 400),
    ("image:classify", {"signature_name": "classify", "examples": []}, 400),
    ("regressor:regress", {"signature_name": "regress", "examples": [{"x": [1.0]}]}, 400),
    ("regressor:regress", {"signature_name": "regress", "examples": [{"x": [2, 2]}]}, 400),
    ("regressor:classify", {"signature_name": "regress", "examples": [{"x": [1.0, 2.0]}]}, 400),
], ids=["predict-signature", "bad-base64", "no-examples", "wrong-feature-length", "int-for-float-feature",
    "classify-on-regress-signature"])
def test_bad_rest_classify_and_regress_requests(server, path, body, status):
    code, answer = http("POST", f"{server.rest}/{path}", body)
    assert code == status and answer["error"]


def test_classify_on_a_predict_signature_is_a_failed_precondition(stubs):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "image"  # serving_default is a predict signature
    request.input.example_list.examples.add()
    assert rpc_error(stubs[0].Classify, request).code() == grpc.StatusCode.FAILED_PRECONDITION


def test_metadata_lists_the_signatures(stubs, server):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "image"
    response = stubs[0].GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert {"serving_default", "serving_examples", "classify"} <= set(signatures.signature_def)
    assert list(signatures.signature_def["serving_default"].inputs) == ["image_bytes"]
    status, body = http("GET", f"{server.rest}/image/metadata")
    assert status == 200 and body["model_spec"]["version"] == "1"
    assert "serving_default" in body["metadata"]["signature_def"]["signature_def"]


@pytest.mark.parametrize("fields", [[], ["signature_def", "nope"], ["nope"]], ids=["none", "one-unknown", "unknown"])
def test_metadata_without_signature_def_field_is_invalid_argument(stubs, fields):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = "image"
    err = rpc_error(stubs[0].GetModelMetadata, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert err.details()


def test_model_status_over_grpc_and_rest(stubs, server):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "image"
    [status] = stubs[1].GetModelStatus(request, timeout=30).model_version_status
    assert status.version == 1 and status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    code, body = http("GET", f"{server.rest}/image/versions/1")
    assert code == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"


def test_rest_predict_row_and_columnar_forms_agree(server):
    b64 = {"b64": base64.b64encode(png(0)).decode()}
    code, rows = http("POST", f"{server.rest}/image:predict", {"instances": [b64, b64]})
    assert code == 200 and len(rows["predictions"]) == 2
    assert set(rows["predictions"][0]) == {"probabilities", "class_id", "class_name"}
    code, columns = http("POST", f"{server.rest}/image/versions/1:predict", {"inputs": {"image_bytes": [b64]}})
    assert code == 200
    assert np.allclose(columns["outputs"]["probabilities"][0], rows["predictions"][0]["probabilities"], atol=1e-5)
    assert columns["outputs"]["class_name"][0] == rows["predictions"][0]["class_name"]


@pytest.mark.parametrize("request_kwargs, code", [
    ({"model": "no_such_model"}, grpc.StatusCode.NOT_FOUND),
    ({"version": 999}, grpc.StatusCode.NOT_FOUND),
    ({"signature": "no_such_signature"}, grpc.StatusCode.FAILED_PRECONDITION),
    ({"inputs": {"wrong_name": [b"x"]}}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"inputs": {"image_bytes": np.zeros([2], np.float32)}}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"inputs": {"image_bytes": [[b"x"], [b"y"]]}}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"inputs": {"image_bytes": [b"not an image"]}}, grpc.StatusCode.INVALID_ARGUMENT),
], ids=["unknown-model", "unknown-version", "unknown-signature", "wrong-input-name", "wrong-dtype",
        "wrong-shape", "corrupt-image"])
def test_bad_grpc_requests_get_tf_servings_status(stubs, request_kwargs, code):
    kwargs = {"inputs": {"image_bytes": [png(0)]}, **request_kwargs}
    err = rpc_error(stubs[0].Predict, predict_request(**kwargs))
    assert err.code() == code, err.details()
    assert err.details()
    # ... and the server keeps serving everyone else.
    probs = tf.make_ndarray(stubs[0].Predict(predict_request({"image_bytes": [png(0)]}), timeout=30)
                            .outputs["probabilities"])
    assert probs.shape == (1, 10) and np.allclose(probs.sum(), 1.0, atol=1e-4)


@pytest.mark.parametrize("path, body, status", [
    ("no_such_model:predict", {"instances": ["x"]}, 404),
    ("image/versions/999:predict", {"instances": ["x"]}, 404),
    ("image:predict", {"signature_name": "nope", "instances": ["x"]}, 400),
    ("image:predict", {"instances": [{"wrong_name": "x"}]}, 400),
    ("image:predict", {"instances": [1.5]}, 400),
    ("image:predict", {"instances": [{"b64": base64.b64encode(b"not an image").decode()}]}, 400),
    ("image:predict", b'{"instances": [', 400),
    ("image:predict", {"neither": 1}, 400),
], ids=["unknown-model", "unknown-version", "unknown-signature", "wrong-input-name", "wrong-dtype",
        "corrupt-image", "malformed-json", "no-instances-or-inputs"])
def test_bad_rest_requests_get_tf_servings_http_status(server, path, body, status):
    code, answer = http("POST", f"{server.rest}/{path}", body)
    assert code == status and answer["error"]


def test_oversized_requests_are_refused(stubs, server):
    if server.implementation != "edgeflow":
        pytest.skip("the request size limit is edgeflow serve's setting (serving.max_request_bytes)")
    big = [b"\0" * (2 * MAX_REQUEST_BYTES)]
    assert rpc_error(stubs[0].Predict, predict_request({"image_bytes": big})).code() == \
        grpc.StatusCode.RESOURCE_EXHAUSTED
    code, answer = http("POST", f"{server.rest}/image:predict", b"{" + b" " * (2 * MAX_REQUEST_BYTES) + b"}")
    assert code == 413 and "limit" in answer["error"]


def test_errors_are_one_clear_sentence(stubs, server):
    if server.implementation != "edgeflow":
        pytest.skip("the wording is edgeflow's")
    err = rpc_error(stubs[0].Predict, predict_request({"image_bytes": [b"not an image"]}))
    assert "Unknown image file format" in err.details() and "\n" not in err.details()
    err = rpc_error(stubs[0].Predict, predict_request({"wrong_name": [b"x"]}))
    assert "wrong_name" in err.details() and "image_bytes" in err.details()
