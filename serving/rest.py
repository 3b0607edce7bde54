"""TF Serving's REST API over the same model manager as the gRPC API.

``GET  /v1/models/{name}[/versions/{v}]``            model version status
``GET  /v1/models/{name}[/versions/{v}]/metadata``   signature defs
``POST /v1/models/{name}[/versions/{v}]:predict``    row (``instances``) or columnar (``inputs``) form
``POST /v1/models/{name}[/versions/{v}]:classify``   ``{"examples": [...]}`` (see rest_examples.py)
``POST /v1/models/{name}[/versions/{v}]:regress``    likewise
Errors are ``{"error": "<one sentence>"}`` with the HTTP status TF Serving gives the same gRPC code.
"""
from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Optional, Tuple

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from edgeflow.serving.errors import ServingError, invalid, not_found
from edgeflow.serving.manager import ModelManager
from edgeflow.serving.rest_examples import classify_json, parse_json, regress_json
from edgeflow.serving.rest_http import BoundedHTTPServer, ClientGone, HardenedHandler, RequestTooLarge
from edgeflow.serving.tensors import format_rest_outputs, parse_rest_inputs

log = logging.getLogger("edgeflow.serving")
ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<tail>/metadata|:predict|:classify|:regress)?/?$")


def model_status_json(manager: ModelManager, name: str, version: Optional[int]) -> dict:
    return {"model_version_status": [
        {"version": str(s.version), "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
         "status": {"error_code": "UNKNOWN" if s.error else "OK", "error_message": s.error}}
        for s in manager.status(name, version)]}


def metadata_json(manager: ModelManager, name: str, version: Optional[int]) -> dict:
    with manager.acquire(name, version) as servable:
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, definition in servable.signature_defs.items():
            signatures.signature_def[key].CopyFrom(definition)
        return {"model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
                "metadata": {"signature_def": json_format.MessageToDict(signatures, preserving_proto_field_name=True)}}


def predict_json(manager: ModelManager, name: str, version: Optional[int], body: bytes) -> dict:
    request = parse_json(body, "'instances' or 'inputs'")
    key = request.get("signature_name", "")
    if not isinstance(key, str):
        raise invalid("'signature_name' must be a string; send a signature's name")
    with manager.acquire(name, version) as servable:
        signature = servable.signature(key)
        inputs, form = parse_rest_inputs(request, signature.definition.inputs)
        return format_rest_outputs(signature(inputs), form)


def make_handler(manager: ModelManager, max_request_bytes: int):
    class Handler(HardenedHandler):
        def _route(self) -> Tuple[str, Optional[int], str]:
            # percent-decoded first, so '%2e%2e' is '..' and '%2F' a slash; a name is only ever a key
            # of the served models (the manager never builds a path from it)
            path = urllib.parse.unquote(self.path.split("?", 1)[0], errors="replace")
            match = ROUTE.match(path)
            if not match:
                raise not_found(f"Malformed request: {self.command} {self.path[:200]}; use /v1/models/<name>"
                                "[/versions/<version>][:predict|:classify|:regress|/metadata]")
            if match["label"]:
                raise invalid(f"version label {match['label']!r} is not configured; use /versions/<number>")
            return match["name"], int(match["version"]) if match["version"] else None, match["tail"] or ""

        def _handle(self, method: str) -> None:
            self.server.begin()
            try:
                body = self.read_body(max_request_bytes)
                self.reply(200, self._answer(method, body))
            except ServingError as err:
                self.reply(413 if isinstance(err, RequestTooLarge) else err.http_status, {"error": str(err)})
            except RecursionError:
                self.reply(400, {"error": "the request's values are nested too deeply; send flat tensors"})
            except TimeoutError:
                self.close_connection = True
                self.reply(408, {"error": f"the request did not arrive within {self.server.timeout_s:g} s "
                                          "(serving.rest_timeout_s); send it faster"})
            except (ClientGone, ConnectionError):
                self.close_connection = True
            except Exception as err:  # noqa: BLE001 - one bad request must not stop the server
                log.exception("REST request failed")
                self.reply(500, {"error": f"internal error: {type(err).__name__}; see the server log"})
            finally:
                self.server.end()

        def _answer(self, method: str, body: bytes) -> dict:
            name, version, tail = self._route()
            if method == "GET" and tail == "":
                return model_status_json(manager, name, version)
            if method == "GET" and tail == "/metadata":
                return metadata_json(manager, name, version)
            if method == "POST" and tail == ":predict":
                return predict_json(manager, name, version, body)
            if method == "POST" and tail == ":classify":
                return classify_json(manager, name, version, body)
            if method == "POST" and tail == ":regress":
                return regress_json(manager, name, version, body)
            raise not_found(f"Malformed request: {method} {self.path[:200]}; use GET for status and "
                            "/metadata, POST for :predict, :classify or :regress")

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

    return Handler


def make_rest_server(manager: ModelManager, host: str, port: int, max_request_bytes: int,
                     max_connections: int = 256, timeout_s: float = 30.0) -> BoundedHTTPServer:
    return BoundedHTTPServer((host, port), make_handler(manager, max_request_bytes), max_connections, timeout_s)
