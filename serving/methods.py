"""TF Serving's Classify and Regress: serialized tf.Examples in, one answer per example.

Both gRPC (``grpc_service.py``) and REST (``rest_examples.py``) turn their request into the
stock ``ClassificationRequest``/``RegressionRequest`` proto and call :func:`classify` or
:func:`regress`, so both APIs answer from the same code. The signature must carry the method
name (``tensorflow/serving/classify`` or ``.../regress``), one input ``inputs`` (B,) of
serialized tf.Examples, and outputs ``classes`` (B, K) and/or ``scores`` (B, K), or ``outputs``.
"""
from __future__ import annotations

from typing import Optional

import grpc
import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import classification_pb2, model_pb2, regression_pb2

from edgeflow.serving.errors import ServingError, invalid
from edgeflow.serving.export import CLASSIFY_METHOD, REGRESS_METHOD
from edgeflow.serving.manager import ModelManager


def requested_version(spec: model_pb2.ModelSpec) -> Optional[int]:
    if spec.version_label:
        raise invalid(f"version label {spec.version_label!r} is not configured on this server; "
                      "ask for a version number or the latest version")
    return spec.version.value if spec.HasField("version") else None


def answered_spec(name: str, version: int, signature_key: str) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name, signature_name=signature_key)
    spec.version.value = version
    return spec


def serialized_examples(request_input) -> np.ndarray:
    """(B,) serialized tf.Examples from an ``Input`` (a context is merged into every example)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = list(request_input.example_list.examples)
    elif kind == "example_list_with_context":
        context = request_input.example_list_with_context.context
        examples = []
        for example in request_input.example_list_with_context.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            examples.append(merged)
    else:
        examples = []
    if not examples:
        raise invalid("the request's input holds no tf.Examples; send at least one example")
    return np.array([e.SerializeToString() for e in examples], dtype=object)


def _run_method(manager: ModelManager, request, method: str):
    """(version, key, outputs) of a classify or regress signature over the request's examples."""
    spec = request.model_spec
    with manager.acquire(spec.name, requested_version(spec)) as servable:
        signature = servable.signature(spec.signature_name)
        if signature.method_name != method:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"Expected signature {signature.key!r} method_name to be {method}, was "
                               f"{signature.method_name!r}; pick a signature exported for this method")
        outputs = signature({"inputs": serialized_examples(request.input)})
        return servable.version, signature.key, outputs


def classify(manager: ModelManager, request: classification_pb2.ClassificationRequest
             ) -> classification_pb2.ClassificationResponse:
    version, key, outputs = _run_method(manager, request, CLASSIFY_METHOD)
    response = classification_pb2.ClassificationResponse(
        model_spec=answered_spec(request.model_spec.name, version, key))
    scores, classes = outputs.get("scores"), outputs.get("classes")
    for row in range(len(scores if scores is not None else classes)):
        result = response.result.classifications.add()
        for j in range((scores if scores is not None else classes).shape[1]):
            entry = result.classes.add()
            if classes is not None:
                entry.label = classes[row][j].decode("utf-8", errors="replace")
            if scores is not None:
                entry.score = float(scores[row][j])
    return response


def regress(manager: ModelManager, request: regression_pb2.RegressionRequest) -> regression_pb2.RegressionResponse:
    version, key, outputs = _run_method(manager, request, REGRESS_METHOD)
    response = regression_pb2.RegressionResponse(model_spec=answered_spec(request.model_spec.name, version, key))
    for value in np.reshape(outputs["outputs"], [-1]):
        response.result.regressions.add(value=float(value))
    return response
