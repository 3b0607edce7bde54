"""TF Serving's gRPC API: ``PredictionService`` (Predict, Classify, Regress, GetModelMetadata)
and ``ModelService`` (GetModelStatus), on the stock ``tensorflow_serving.apis`` protos."""
from __future__ import annotations

import logging

import grpc
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
                                     regression_pb2)

from edgeflow.serving.errors import ServingError, invalid
from edgeflow.serving.manager import ModelManager, predict
from edgeflow.serving.methods import answered_spec, classify, regress, requested_version
from edgeflow.serving.tensors import from_tensor_proto, to_tensor_proto

log = logging.getLogger("edgeflow.serving")


def _answer(context: grpc.ServicerContext, handler, request):
    try:
        return handler(request)
    except ServingError as err:
        context.abort(err.code, str(err))
    except Exception as err:  # noqa: BLE001 - a bug answers INTERNAL in one line; the traceback goes to the log
        log.exception("gRPC request failed")
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}; see the server log")


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

    def _classify(self, request) -> classification_pb2.ClassificationResponse:
        return classify(self.manager, request)

    def _regress(self, request) -> regression_pb2.RegressionResponse:
        return regress(self.manager, request)

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
