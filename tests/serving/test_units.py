"""The serving parts without a pipeline: REST JSON, batching, layout, export, model manager.
A tiny SavedModel (x (B, 2) -> y = x @ [1, 1]) stands in for a trained one."""
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from edgeflow.config import ConfigError, load_config
from edgeflow.serving.batching import Batcher
from edgeflow.serving.errors import ServingError, op_error_text
from edgeflow.serving.export import (CLASSIFY_METHOD, mark_classify_signatures, read_warmup_requests,
                                     warmup_record, write_warmup_requests)
from edgeflow.serving.layout import find_models, list_versions, read_models_config, write_serving_files
from edgeflow.serving.manager import ModelManager, State
from edgeflow.serving.servable import read_signature_defs
from edgeflow.serving.tensors import format_rest_outputs, parse_rest_inputs


def save_tiny_model(path, scale: float = 1.0, warmup: bool = True) -> str:
    module = tf.Module()
    module.scale = tf.Variable(scale)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def serve(x):
        return {"y": tf.reduce_sum(x, axis=1) * module.scale}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        n = tf.shape(inputs)[0]
        return {"classes": tf.fill([n, 2], "a"), "scores": tf.fill([n, 2], 0.5)}

    tf.saved_model.save(module, str(path), signatures={"serving_default": serve, "classify": classify})
    mark_classify_signatures(str(path), ["classify"])
    if warmup:
        write_warmup_requests(str(path), [warmup_record("", "", {"x": np.ones([1, 2], np.float32)})])
    return str(path)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def tensor_info(dtype, dims):
    info = meta_graph_pb2.TensorInfo(dtype=dtype.as_datatype_enum)
    for d in dims:
        info.tensor_shape.dim.add(size=d)
    return info


# ---- REST JSON --------------------------------------------------------------------------
def test_rest_row_and_columnar_inputs_with_base64():
    inputs = {"image_bytes": tensor_info(tf.string, [-1])}
    rows, form = parse_rest_inputs({"instances": [{"b64": "aGk="}, "text"]}, inputs)
    assert form == "row" and list(rows["image_bytes"]) == [b"hi", b"text"]
    columns, form = parse_rest_inputs({"inputs": {"image_bytes": [{"b64": "aGk="}]}}, inputs)
    assert form == "columnar" and list(columns["image_bytes"]) == [b"hi"]
    numbers, _ = parse_rest_inputs({"instances": [[1, 2], [3, 4]]}, {"x": tensor_info(tf.float32, [-1, 2])})
    assert numbers["x"].dtype == np.float32 and numbers["x"].shape == (2, 2)


@pytest.mark.parametrize("body", [{}, {"instances": [], "inputs": []}, {"instances": []},
                                  {"instances": [{"b64": "!!!"}]}, {"instances": [1.5]}])
def test_bad_rest_bodies_are_invalid_argument(body):
    with pytest.raises(ServingError) as caught:
        parse_rest_inputs(body, {"image_bytes": tensor_info(tf.string, [-1])})
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and caught.value.http_status == 400


def test_rest_outputs_in_both_forms():
    outputs = {"class_name": np.array([b"a", b"b"], dtype=object), "thumb_bytes": np.array([b"\xff", b"\0"], dtype=object)}
    rows = format_rest_outputs(outputs, "row")["predictions"]
    assert rows[0] == {"class_name": "a", "thumb_bytes": {"b64": "/w=="}}
    assert format_rest_outputs({"y": np.array([1.0, 2.0])}, "columnar") == {"outputs": [1.0, 2.0]}


# ---- batching ---------------------------------------------------------------------------
def test_batcher_merges_concurrent_requests_and_isolates_a_bad_one():
    calls = []

    def run(inputs):
        calls.append(len(inputs["x"]))
        if np.any(inputs["x"] < 0):
            raise ValueError("negative")
        time.sleep(0.01)
        return {"y": inputs["x"] * 2}

    batcher = Batcher(run, max_batch_size=64, timeout_s=0.05)
    results, errors = {}, {}

    def client(i):
        try:
            results[i] = batcher({"x": np.array([i if i != 5 else -1])})["y"]
        except ValueError as err:
            errors[i] = err

    for _ in range(2):  # the second round waits for company, since the first had some
        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    batcher.close()
    assert set(errors) == {5} and all(results[i][0] == 2 * i for i in range(16) if i != 5)
    assert max(calls) > 1, "concurrent requests should have been merged"


# ---- layout and export ------------------------------------------------------------------
def test_models_config_lists_every_model_with_a_version(tmp_path, tiny_model):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "a" / "3")
    (tmp_path / "a" / "tmp-not-a-version").mkdir()
    (tmp_path / "b" / "7").mkdir(parents=True)  # no saved_model.pb yet
    config = write_serving_files(tmp_path, max_batch_size=8)
    assert read_models_config(config) == {"a": (tmp_path / "a").resolve()}
    assert list_versions(tmp_path / "a") == [3] and find_models(tmp_path).keys() == {"a"}
    assert "max_batch_size { value: 8 }" in (tmp_path / "batching_parameters").read_text()
    # the container's copy parses as a ModelServerConfig, with base paths under the mount point
    assert read_models_config(tmp_path / "models.container.config") == {"a": Path("/models/a")}
    write_serving_files(tmp_path, container_root="/srv/tf")
    assert read_models_config(tmp_path / "models.container.config") == {"a": Path("/srv/tf/a")}


def test_export_marks_classify_and_writes_warmup(tiny_model):
    assert read_signature_defs(tiny_model)["classify"].method_name == CLASSIFY_METHOD
    [record] = list(read_warmup_requests(tiny_model))
    assert tf.make_ndarray(record.predict_log.request.inputs["x"]).shape == (1, 2)
    assert tf.saved_model.load(tiny_model).signatures["classify"](inputs=tf.constant([b""]))["scores"].shape == (1, 2)


def test_op_error_text_keeps_the_useful_line():
    text = ("Graph execution error:\n\nDetected at node decode defined at (most recent call last):\n"
            "<stack traces unavailable>\nUnknown image file format. One of JPEG, PNG required.\n\t [[{{node x}}]]")
    assert op_error_text(text) == "Unknown image file format. One of JPEG, PNG required"


def test_serving_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="serving.grpc_port"):
        load_config("image", overrides=["serving.grpc_port=70000"])
    for bad, key in (("serving.workers=0", "serving.workers"), ("serving.container_root=models",
                                                                 "serving.container_root")):
        with pytest.raises(ConfigError, match=key):
            load_config("image", overrides=[bad])
    assert load_config("image", overrides=["serving.max_batch_size=4"]).serving.max_batch_size == 4


# ---- model manager: checks, latest-version policy, hot swap -------------------------------
def test_manager_checks_requests_and_swaps_versions(tmp_path, tiny_model):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "m" / "1")
    manager = ModelManager(tmp_path, {"max_batch_size": 8, "timeout_s": 0.001}, poll_seconds=3600)
    manager.poll(require_stable=False)
    try:
        with manager.acquire("m") as servable:
            y = servable.signature("")({"x": np.array([[1, 2]], np.float32)})["y"]
            assert y.tolist() == [3.0]
            for bad in ({"x": np.array([[1, 2, 3]], np.float32)}, {"x": np.array([[1, 2]], np.int32)},
                        {"z": np.array([1.0])}):
                with pytest.raises(ServingError) as caught:
                    servable.signature("")(bad)
                assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(ServingError) as caught:
            manager.acquire("m", 9).__enter__()
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        save_tiny_model(tmp_path / "m" / "2", scale=10.0)
        manager.poll()  # first sighting: wait until its files stop changing
        assert manager.status("m", 1)[0].state == State.AVAILABLE
        manager.poll()
        assert {s.version: s.state for s in manager.status("m")} == {1: State.END, 2: State.AVAILABLE}
        with manager.acquire("m") as servable:
            assert servable.signature("")({"x": np.array([[1, 2]], np.float32)})["y"].tolist() == [30.0]
    finally:
        manager.close()


def test_a_version_that_fails_warmup_is_not_swapped_in(tmp_path, tiny_model):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "m" / "1")
    manager = ModelManager(tmp_path, None, poll_seconds=3600)
    manager.poll(require_stable=False)
    broken = save_tiny_model(tmp_path / "m" / "2", warmup=False)
    write_warmup_requests(broken, [warmup_record("", "", {"x": np.ones([1, 3], np.float32)})])
    manager.poll(require_stable=False)
    try:
        [status] = manager.status("m", 2)
        assert status.state == State.END and "shape" in status.error
        with manager.acquire("m") as servable:
            assert servable.version == 1
    finally:
        manager.close()


# ---- TensorProto conversion (the gRPC hot path, without tf.make_tensor_proto/make_ndarray) --
@pytest.mark.parametrize("array", [
    np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, -2], np.int64), np.array([[7]], np.int32),
    np.array([3, 4], np.uint8), np.array([True, False]), np.array([b"a", b"\0b"], dtype=object),
    np.array(2.5, np.float64), np.array([1.0, 2.0], np.float16), np.zeros([0, 4], np.float32)],
    ids=["float32", "int64", "int32", "uint8", "bool", "bytes", "scalar", "float16-fallback", "empty"])
def test_tensor_proto_conversion_matches_tensorflow(array):
    from edgeflow.serving.tensors import from_tensor_proto, to_tensor_proto

    ours = to_tensor_proto(array)
    assert ours.dtype == tf.make_tensor_proto(array).dtype
    for proto in (ours, tf.make_tensor_proto(array)):  # ours read by TF, and TF's read by ours
        back = tf.make_ndarray(proto) if proto is ours else from_tensor_proto(proto)
        assert back.dtype == array.dtype and back.shape == array.shape and (back == array).all()


def test_tensor_proto_with_value_fields_and_repeated_last_value():
    from edgeflow.serving.tensors import from_tensor_proto

    proto = tf.make_tensor_proto([1.5, 2.5])
    proto.ClearField("tensor_content")
    proto.float_val.extend([1.5, 2.5])
    assert from_tensor_proto(proto).tolist() == [1.5, 2.5]
    filled = tf.make_tensor_proto(7, shape=[3])  # one value, repeated by TensorFlow
    assert from_tensor_proto(filled).tolist() == [7, 7, 7]
