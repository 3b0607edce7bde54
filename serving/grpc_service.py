"""TF Serving's gRPC API: ``PredictionService`` (Predict, Classify, Regress, GetModelMetadata)
and ``ModelService`` (GetModelStatus), on the stock ``tensorflow_serving.apis`` protos."""
from __future__ import annotations

from typing import Optional

import grpc
import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from edgeflow.serving.errors import ServingError, invalid
from edgeflow.serving.export import CLASSIFY_METHOD
from edgeflow.serving.manager import ModelManager, predict
from edgeflow.serving.tensors import from_tensor_proto, to_tensor_proto

REGRESS_METHOD = "tensorflow/serving/regress"


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


def _answer(context: grpc.ServicerContext, handler, request):
    try:
        return handler(request)
    except ServingError as err:
        context.abort(err.code, str(err))


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def Predict(self, request, context):
        return _answer(context, self._predict, request)

    def Classify(self, request, context):
        return _answer(context, self._classify, request)

    def Regress(self, request, context):
        return _answer(context, self._regress, request)

    def GetModelMetadata(self, request, context):
        return _answer(context, self._metadata, request)

    def _predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        inputs = {alias: from_tensor_proto(proto) for alias, proto in request.inputs.items()}
        version, key, outputs = predict(self.manager, request.model_spec.name, requested_version(request.model_spec),
                                        request.model_spec.signature_name, inputs, request.output_filter)
        response = predict_pb2.PredictResponse(model_spec=answered_spec(request.model_spec.name, version, key))
        for alias, value in outputs.items():
            to_tensor_proto(value, response.outputs[alias])
        return response

    def _run_method(self, request, method: str):
        """(version, key, outputs) of a classify or regress signature over the request's examples."""
        spec = request.model_spec
        with self.manager.acquire(spec.name, requested_version(spec)) as servable:
            signature = servable.signature(spec.signature_name)
            if signature.method_name != method:
                raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                                   f"Expected signature {signature.key!r} method_name to be {method}, was "
                                   f"{signature.method_name!r}; pick a signature exported for this method")
            outputs = signature({"inputs": serialized_examples(request.input)})
            return servable.version, signature.key, outputs

    def _classify(self, request) -> classification_pb2.ClassificationResponse:
        version, key, outputs = self._run_method(request, CLASSIFY_METHOD)
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

    def _regress(self, request) -> regression_pb2.RegressionResponse:
        version, key, outputs = self._run_method(request, REGRESS_METHOD)
        response = regression_pb2.RegressionResponse(model_spec=answered_spec(request.model_spec.name, version, key))
        for value in np.reshape(outputs["outputs"], [-1]):
            response.result.regressions.add(value=float(value))
        return response

    def _metadata(self, request) -> get_model_metadata_pb2.GetModelMetadataResponse:
        unsupported = [f for f in request.metadata_field if f != "signature_def"]
        if unsupported or not request.metadata_field:
            raise invalid(f"metadata_field must be ['signature_def'], got {list(request.metadata_field)}")
        with self.manager.acquire(request.model_spec.name, requested_version(request.model_spec)) as servable:
            response = get_model_metadata_pb2.GetModelMetadataResponse(
                model_spec=answered_spec(servable.name, servable.version, ""))
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, definition in servable.signature_defs.items():
                signatures.signature_def[key].CopyFrom(definition)
            response.metadata["signature_def"].Pack(signatures)
            return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):
        return _answer(context, self._status, request)

    def _status(self, request) -> get_model_status_pb2.GetModelStatusResponse:
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self.manager.status(request.model_spec.name, requested_version(request.model_spec)):
            entry = response.model_version_status.add(version=status.version, state=status.state)
            entry.status.error_code = error_codes_pb2.UNKNOWN if status.error else error_codes_pb2.OK
            entry.status.error_message = status.error
        return response


def add_services(server: grpc.Server, manager: ModelManager) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(manager), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
