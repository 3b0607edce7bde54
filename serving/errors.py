"""Serving errors: one sentence, with the gRPC status and HTTP status TF Serving would answer."""
from __future__ import annotations

import grpc

from edgeflow import EdgeflowError

# TF Serving's REST API maps gRPC codes to these HTTP statuses (others: 500).
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
}


class ServingError(EdgeflowError):
    """A request the server cannot answer; `code` is the gRPC status it gets."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def op_error_text(text: str) -> str:
    """The line of a TensorFlow error that says what went wrong (not 'Graph execution error', stacks, nodes)."""
    noise = ("Graph execution error", "Detected at node", "<stack traces", "File ", "[[")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(noise)]
    return (useful or lines or ["unknown error"])[0].rstrip(".")


def from_tensorflow(err: Exception) -> ServingError:
    """A TensorFlow op error (e.g. an undecodable image) as the status TF Serving gives it."""
    import tensorflow as tf

    message = op_error_text(str(getattr(err, "message", err)))
    if isinstance(err, (tf.errors.InvalidArgumentError, ValueError, TypeError)):
        return invalid(f"the model rejected the request's inputs ({message}); fix the input values")
    return ServingError(grpc.StatusCode.INTERNAL, f"the model failed on this request: {message}")
