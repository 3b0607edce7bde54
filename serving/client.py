"""A TF Serving client over gRPC, with TF Serving's own ``PredictionServiceStub``.

Works against ``edgeflow serve`` and Google's ``tensorflow_model_server`` alike::

    from edgeflow.serving.client import PredictionClient
    with PredictionClient("127.0.0.1:8500") as client:
        outputs = client.predict("image", {"image_bytes": [open("3.png", "rb").read()]})
        outputs["class_name"]  # array([b'3'], dtype=object)

``edgeflow predict --server HOST:PORT --model NAME IMAGE...`` is the same from the shell.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import grpc
import numpy as np
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from edgeflow import EdgeflowError
from edgeflow.serving.tensors import from_tensor_proto, to_tensor_proto


class ServingClientError(EdgeflowError):
    """The server refused a request, or no server answered."""


class PredictionClient:
    def __init__(self, target: str, timeout_s: float = 30.0):
        self.target, self.timeout_s = target, timeout_s
        self._channel = grpc.insecure_channel(target)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def __enter__(self) -> "PredictionClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def predict(self, model: str, inputs: Mapping[str, Sequence], signature: str = "serving_default",
                version: Optional[int] = None) -> Dict[str, np.ndarray]:
        """One Predict call; `inputs` maps the signature's input names to arrays (or lists of bytes)."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = model, signature
        if version is not None:
            request.model_spec.version.value = version
        for name, value in inputs.items():
            array = np.asarray(value, dtype=object if value and isinstance(value[0], bytes) else None)
            request.inputs[name].CopyFrom(to_tensor_proto(array))
        try:
            response = self._stub.Predict(request, timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                raise ServingClientError(f"no model server answers at {self.target}; start one with "
                                         "`edgeflow serve` or check --server") from None
            raise ServingClientError(f"the server at {self.target} refused the request "
                                     f"({err.code().name}): {err.details()}") from None
        return {name: from_tensor_proto(proto) for name, proto in response.outputs.items()}


def classify_images(client: PredictionClient, model: str, paths: Sequence[str], input_name: str = "image_bytes",
                    signature: str = "serving_default", version: Optional[int] = None) -> List[dict]:
    """[{path, class_name, class_id, score}] for encoded images sent in one request."""
    images = []
    for p in paths:
        if not Path(p).is_file():
            raise ServingClientError(f"input {p} is not a file; give the paths of PNG or JPEG images")
        images.append(Path(p).read_bytes())
    out = client.predict(model, {input_name: images}, signature, version)
    probs = out.get("probabilities")
    rows = []
    for i, p in enumerate(paths):
        name = out["class_name"][i] if "class_name" in out else None
        rows.append({"path": str(p), "class_name": name.decode() if isinstance(name, bytes) else name,
                     "class_id": int(out["class_id"][i]) if "class_id" in out else None,
                     "score": float(np.max(probs[i])) if probs is not None else None})
    return rows
