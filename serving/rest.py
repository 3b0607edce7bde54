"""TF Serving's REST API over the same model manager as the gRPC API.

``GET  /v1/models/{name}[/versions/{v}]``            model version status
``GET  /v1/models/{name}[/versions/{v}]/metadata``   signature defs
``POST /v1/models/{name}[/versions/{v}]:predict``    row (``instances``) or columnar (``inputs``) form
``POST /v1/models/{name}[/versions/{v}]:classify``   ``{"examples": [...]}`` (see rest_examples.py)
``POST /v1/models/{name}[/versions/{v}]:regress``    likewise
Errors are ``{"error": "<one sentence>"}`` with the HTTP status TF Serving gives the same gRPC code.
"""
from __future__ import annotations

import json
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Tuple

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from edgeflow.serving.errors import ServingError, invalid, not_found
from edgeflow.serving.manager import ModelManager
from edgeflow.serving.rest_examples import classify_json, regress_json
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
    try:
        request = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise invalid(f"JSON Parse error: {err}; send a JSON object with 'instances' or 'inputs'") from None
    if not isinstance(request, dict):
        raise invalid("the request body must be a JSON object with 'instances' or 'inputs'")
    key = request.get("signature_name", "")
    with manager.acquire(name, version) as servable:
        signature = servable.signature(key)
        inputs, form = parse_rest_inputs(request, signature.definition.inputs)
        return format_rest_outputs(signature(inputs), form)


def make_handler(manager: ModelManager, max_request_bytes: int):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # to the log file, not stderr
            log.debug("rest %s - " + fmt, self.address_string(), *args)

        def _route(self) -> Tuple[str, Optional[int], str]:
            match = ROUTE.match(self.path.split("?", 1)[0])
            if not match:
                raise not_found(f"Malformed request: {self.command} {self.path}; use /v1/models/<name>"
                                "[/versions/<version>][:predict|:classify|:regress|/metadata]")
            if match["label"]:
                raise invalid(f"version label {match['label']!r} is not configured; use /versions/<number>")
            return match["name"], int(match["version"]) if match["version"] else None, match["tail"] or ""

        def _reply(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                if length > max_request_bytes:
                    raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                       f"the request body has {length} bytes, over this server's limit of "
                                       f"{max_request_bytes}; send fewer or smaller inputs per request")
                body = self.rfile.read(length) if length else b""
                name, version, tail = self._route()
                if method == "GET" and tail == "":
                    return self._reply(200, model_status_json(manager, name, version))
                if method == "GET" and tail == "/metadata":
                    return self._reply(200, metadata_json(manager, name, version))
                if method == "POST" and tail == ":predict":
                    return self._reply(200, predict_json(manager, name, version, body))
                if method == "POST" and tail == ":classify":
                    return self._reply(200, classify_json(manager, name, version, body))
                if method == "POST" and tail == ":regress":
                    return self._reply(200, regress_json(manager, name, version, body))
                raise not_found(f"Malformed request: {method} {self.path}; use GET for status and "
                                "/metadata, POST for :predict, :classify or :regress")
            except ServingError as err:
                too_large = length > max_request_bytes
                if too_large:  # read and drop the body, unstored, so the client gets the answer
                    for start in range(0, length, 1 << 16):
                        self.rfile.read(min(1 << 16, length - start))
                self._reply(413 if too_large else err.http_status, {"error": str(err)})
            except Exception as err:  # noqa: BLE001 - one bad request must not stop the server
                log.exception("REST request failed")
                self._reply(500, {"error": f"internal error: {err}"})

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

    return Handler


def make_rest_server(manager: ModelManager, host: str, port: int, max_request_bytes: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(manager, max_request_bytes))
    server.daemon_threads = True
    return server
