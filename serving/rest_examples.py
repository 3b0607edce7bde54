"""TF Serving's REST ``:classify`` and ``:regress``: JSON examples in, JSON results out.

Request: ``{"signature_name": "...", "context": {feature: value}, "examples": [{feature: value}, ...]}``
A feature value is a scalar or a list: JSON integers become an ``int64_list``, numbers with a
fraction a ``float_list``, strings and ``{"b64": "..."}`` a ``bytes_list``. The body becomes
the stock ``ClassificationRequest``/``RegressionRequest`` and is answered by ``methods.py``,
the code behind the gRPC ``Classify``/``Regress``.
Answers: classify ``{"results": [[[label, score], ...], ...]}`` (one list per example),
regress ``{"results": [value, ...]}``.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Optional

from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import classification_pb2, regression_pb2

from edgeflow.serving.errors import invalid
from edgeflow.serving.manager import ModelManager
from edgeflow.serving.methods import classify, regress


def _as_bytes(name: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise invalid(f"feature {name!r} mixes value kinds or has a bad {{\"b64\": ...}} value; send numbers, "
                      "strings or base64 objects, one kind per feature") from None


def feature_from_json(name: str, value: Any) -> feature_pb2.Feature:
    values = value if isinstance(value, list) else [value]
    feature = feature_pb2.Feature()
    if not values:
        return feature
    if any(isinstance(v, bool) for v in values) or any(isinstance(v, (list, type(None))) for v in values):
        raise invalid(f"feature {name!r} must be a number, a string, a {{\"b64\": ...}} object or a flat list "
                      "of one of them; send it that way")
    if all(isinstance(v, int) for v in values):
        feature.int64_list.value.extend(values)
    elif all(isinstance(v, (int, float)) for v in values):
        feature.float_list.value.extend(values)
    else:
        feature.bytes_list.value.extend(_as_bytes(name, v) for v in values)
    return feature


def example_from_json(obj: Any) -> example_pb2.Example:
    if not isinstance(obj, dict):
        raise invalid("every entry of 'examples' (and 'context') must be a JSON object of feature values")
    example = example_pb2.Example()
    for name, value in obj.items():
        example.features.feature[name].CopyFrom(feature_from_json(name, value))
    return example


def parse_json(body: bytes, wanted: str) -> dict:
    """A request body as a JSON object; INVALID_ARGUMENT with the parser's reason otherwise."""
    try:
        request = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise invalid(f"JSON Parse error: {err}; send a JSON object with {wanted}") from None
    except RecursionError:
        raise invalid(f"JSON Parse error: nested too deeply; send a JSON object with {wanted}") from None
    if not isinstance(request, dict):
        raise invalid(f"the request body must be a JSON object with {wanted}")
    return request


def method_request(request, name: str, version: Optional[int], body: bytes):
    """Fills a ``ClassificationRequest``/``RegressionRequest`` from a REST body; returns it."""
    parsed = parse_json(body, "a non-empty 'examples' list")
    if not isinstance(parsed.get("examples"), list) or not parsed["examples"]:
        raise invalid("the request body must be a JSON object with a non-empty 'examples' list")
    if not isinstance(parsed.get("signature_name", ""), str):
        raise invalid("'signature_name' must be a string; send a signature's name")
    request.model_spec.name = name
    request.model_spec.signature_name = parsed.get("signature_name", "")
    if version is not None:
        request.model_spec.version.value = version
    examples = [example_from_json(e) for e in parsed["examples"]]
    if "context" in parsed:
        target = request.input.example_list_with_context
        target.context.CopyFrom(example_from_json(parsed["context"]))
    else:
        target = request.input.example_list
    target.examples.extend(examples)
    return request


def classify_json(manager: ModelManager, name: str, version: Optional[int], body: bytes) -> dict:
    response = classify(manager, method_request(classification_pb2.ClassificationRequest(), name, version, body))
    return {"results": [[[c.label, c.score] for c in result.classes]
                        for result in response.result.classifications]}


def regress_json(manager: ModelManager, name: str, version: Optional[int], body: bytes) -> dict:
    response = regress(manager, method_request(regression_pb2.RegressionRequest(), name, version, body))
    return {"results": [r.value for r in response.result.regressions]}
