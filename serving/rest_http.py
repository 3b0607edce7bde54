"""The HTTP side of the REST API, hardened against hostile and slow clients.

* **Deadline per request.** From the moment a connection waits for a request (a new one, or
  the next on a keep-alive connection) its request line, headers and body must arrive within
  ``timeout_s``; a client that stays silent or trickles bytes is disconnected (408 if it had
  started a request). A slow client costs one thread for at most ``timeout_s``.
* **Bounded connections.** At most ``max_connections`` connections are open at once; one more
  is answered ``503`` at once and closed, never queued behind the others.
* **Bodies.** ``Content-Length`` (one, a decimal number) or ``Transfer-Encoding: chunked``;
  a malformed header is a 400, a body over ``max_request_bytes`` a 413 (the body is read past
  and dropped, never stored), another transfer coding a 501.
* **Errors** from the HTTP layer itself (a malformed request line, too many headers, an
  unsupported method) are TF Serving's JSON ``{"error": "..."}`` too, never an HTML page or a
  traceback on stderr.
"""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

from edgeflow.serving.errors import ServingError, invalid

log = logging.getLogger("edgeflow.serving")
CHUNK = 1 << 16
DRAIN_FACTOR = 8  # an oversized body up to 8x the limit is read (and dropped) so the client sees the 413


class ClientGone(Exception):
    """The client closed its side before its request was complete (nobody is left to answer)."""


class RequestTooLarge(ServingError):
    def __init__(self, size_text: str, limit: int):
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"the request body has {size_text} bytes, over this server's limit of {limit}; "
                         "send fewer or smaller inputs per request")


class _DeadlineIO(io.RawIOBase):
    """A socket's reading side that refuses to wait past the handler's current deadline."""

    def __init__(self, sock: socket.socket, handler: "HardenedHandler"):
        self._sock, self._handler = sock, handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self._handler.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self._handler.server.timeout_s)  # writes get the full timeout


def json_error(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")


class HardenedHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler with a deadline per request; subclasses define ``do_GET`` etc."""

    protocol_version = "HTTP/1.1"
    server: "BoundedHTTPServer"
    deadline = 0.0

    def setup(self) -> None:
        super().setup()
        self.deadline = time.monotonic() + self.server.timeout_s
        self.rfile = io.BufferedReader(_DeadlineIO(self.connection, self), CHUNK)

    def handle_one_request(self) -> None:
        self.deadline = time.monotonic() + self.server.timeout_s
        super().handle_one_request()  # a TimeoutError while reading the request line closes the connection
        if self.server.stopping.is_set():
            self.close_connection = True

    def log_message(self, fmt, *args):  # to the log file, not stderr
        log.debug("rest %s - " + fmt, self.address_string(), *args)

    def send_error(self, code, message=None, explain=None):
        """The HTTP layer's own errors (bad request line, headers, method), as TF Serving's JSON."""
        text = message or self.responses.get(code, ("error",))[0]
        self.log_error("code %d, message %s", code, text)
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # also for a request line too broken to name a version (0.9: no head)
        try:
            self.reply(code, {"error": f"{text}; send a well-formed HTTP/1.1 request"})
        except OSError:
            pass

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection or self.server.stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # ---- bodies --------------------------------------------------------------------------
    def read_body(self, limit: int) -> bytes:
        """The request body (b"" when there is none); raises ServingError for a bad or oversized one."""
        codings = [c.strip().lower() for v in self.headers.get_all("Transfer-Encoding") or [] for c in v.split(",")]
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if codings:
            self.close_connection = True  # whatever happens, do not guess where the next request starts
            if lengths:
                raise invalid("the request has both Transfer-Encoding and Content-Length; send one of them")
            if codings != ["chunked"]:
                raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                                   f"Transfer-Encoding {', '.join(codings)!r} is not supported; send the body "
                                   "plain with Content-Length, or chunked")
            return self._read_chunked(limit)
        if not lengths:
            return b""
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            self.close_connection = True
            raise invalid(f"Content-Length {', '.join(sorted(lengths))!r} is not one number of bytes; send the "
                          "body's length in bytes as a decimal number")
        length = int(next(iter(lengths)))
        if length > limit:
            if length <= DRAIN_FACTOR * limit:  # read past it, unstored, so the client can read the answer
                self._read(length, keep=False)
            else:  # a length nobody means: answer and hang up
                self.close_connection = True
            raise RequestTooLarge(str(length), limit)
        return self._read(length)

    def _read(self, size: int, keep: bool = True) -> bytes:
        parts, left = [], size
        while left > 0:
            part = self.rfile.read(min(CHUNK, left))
            if not part:
                raise ClientGone()
            left -= len(part)
            if keep:
                parts.append(part)
        return b"".join(parts)

    def _read_chunked(self, limit: int) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1026)
            if not line:
                raise ClientGone()
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise invalid(f"chunk size {size_text[:20].decode('latin-1')!r} is not a hexadecimal number; "
                              "send a well-formed chunked body")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > DRAIN_FACTOR * limit:  # stop reading; the connection closes after the answer
                raise RequestTooLarge(f"over {DRAIN_FACTOR * limit}", limit)
            parts.append(self._read(size, keep=total <= limit))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise invalid("a chunk is longer than its size line says; send a well-formed chunked body")
        for _ in range(100):  # trailer fields, ignored
            if self.rfile.readline(65537) in (b"\r\n", b"\n", b""):
                break
        if total > limit:
            raise RequestTooLarge(f"over {limit}", limit)
        return b"".join(parts)


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them; `busy` counts requests being answered."""

    daemon_threads = True

    def __init__(self, address, handler, max_connections: int, timeout_s: float):
        super().__init__(address, handler)
        self.timeout_s, self.max_connections = timeout_s, max_connections
        self.stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._busy = 0
        self._idle = threading.Condition()
        self.refused = 0  # connections answered 503 (for tests and benchmarks)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            return self._refuse(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """503 to a connection over the bound, without blocking the accept loop."""
        self.refused += 1
        body = json_error(f"this server has {self.max_connections} connections open, its limit "
                          "(serving.rest_max_connections); retry shortly")
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n").encode()
        try:
            request.setblocking(False)
            for _ in range(16):  # what the client already sent: read, so closing does not reset the answer
                if not request.recv(CHUNK):
                    break
        except OSError:
            pass
        try:
            request.send(head + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address):  # a connection's failure: logged, not printed
        log.debug("rest connection from %s failed", client_address, exc_info=True)

    # ---- requests being answered, so a stop can let them finish ----------------------------------
    def begin(self) -> None:
        with self._idle:
            self._busy += 1

    def end(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout_s)
