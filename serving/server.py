"""``edgeflow serve``: TF Serving's gRPC and REST APIs for every model under a serving root.

A stand-in for Google's C++ ``tensorflow_model_server`` (not installable from the package
registries) for local use and tests: same protos, same URLs, same status codes, and the
same layout on disk, so what it serves the real server serves too.
"""
from __future__ import annotations

import ctypes
import json
import logging
import signal
import subprocess
import sys
import threading
from concurrent import futures
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import List

import grpc

from edgeflow import EdgeflowError
from edgeflow.serving.grpc_service import add_services
from edgeflow.serving.layout import find_models, write_serving_files
from edgeflow.serving.manager import ModelManager
from edgeflow.serving.rest import make_rest_server

log = logging.getLogger("edgeflow.serving")


@dataclass(frozen=True)
class ServerOptions:
    root: Path
    host: str = "127.0.0.1"
    grpc_port: int = 8500
    rest_port: int = 8501
    max_batch_size: int = 32
    batch_timeout_ms: float = 0.0
    poll_seconds: float = 1.0
    max_request_bytes: int = 16 * 1024 * 1024
    grpc_threads: int = 64
    workers: int = 1  # server processes sharing the gRPC port (SO_REUSEPORT), each with its own batchers
    rest: bool = True  # extra workers serve gRPC only
    rest_max_connections: int = 256  # open REST connections at once (more: 503 at once)
    rest_timeout_s: float = 30.0  # a REST request must arrive within this (idle connections are closed)
    container_root: str = "/models"  # base paths in models.container.config


class ModelServer:
    """Starts the manager, then gRPC and REST on `host`; ``stop()`` drains both and unloads the models."""

    def __init__(self, options: ServerOptions):
        self.options = options
        if not find_models(options.root):
            raise EdgeflowError(f"no models under {options.root} (expected <root>/<model>/<version>/saved_model.pb); "
                                "run a pipeline first or pass the serving root with --root")
        batching = {"max_batch_size": options.max_batch_size, "timeout_s": options.batch_timeout_ms / 1000}
        self.manager = ModelManager(options.root, batching if options.max_batch_size > 1 else None,
                                    options.poll_seconds)
        self._grpc = None
        self._rest = None
        self.grpc_port = self.rest_port = 0

    def start(self) -> "ModelServer":
        o = self.options
        write_serving_files(o.root, o.max_batch_size, o.batch_timeout_ms, o.container_root)
        self.manager.start()
        limits = [("grpc.max_receive_message_length", o.max_request_bytes),
                  ("grpc.max_send_message_length", 64 * 1024 * 1024),
                  ("grpc.so_reuseport", 1)]  # so extra workers can listen on the same port
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=o.grpc_threads), options=limits)
        add_services(self._grpc, self.manager)
        self.grpc_port = self._grpc.add_insecure_port(f"{o.host}:{o.grpc_port}")
        if not self.grpc_port:
            raise EdgeflowError(f"cannot listen on {o.host}:{o.grpc_port} for gRPC; pick a free port with --port")
        self._grpc.start()
        if not o.rest:
            return self
        try:
            self._rest = make_rest_server(self.manager, o.host, o.rest_port, o.max_request_bytes,
                                          o.rest_max_connections, o.rest_timeout_s)
        except OSError as err:
            self._grpc.stop(0)
            raise EdgeflowError(f"cannot listen on {o.host}:{o.rest_port} for REST ({err.strerror}); "
                                "pick a free port with --rest-port") from None
        self.rest_port = self._rest.server_address[1]
        threading.Thread(target=self._rest.serve_forever, name="rest", daemon=True).start()
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """Stops taking requests, lets those in flight finish (up to `grace_s`), then unloads the models."""
        grpc_done = self._grpc.stop(grace_s) if self._grpc else None
        if self._rest:
            self._rest.stopping.set()  # answers in flight say Connection: close
            self._rest.shutdown()  # no new connections
            if not self._rest.wait_idle(grace_s):
                log.warning("REST requests still running after %.0f s; stopping anyway", grace_s)
            self._rest.server_close()
        if grpc_done is not None:
            grpc_done.wait()
        self.manager.close()


def _die_with_parent() -> None:  # in the worker before exec (Linux): SIGTERM when the server process dies
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_workers(options: ServerOptions, grpc_port: int) -> List[subprocess.Popen]:
    """Starts ``options.workers - 1`` more server processes on `grpc_port` (gRPC only, own batchers);
    each gets SIGTERM if this process dies, even by SIGKILL."""
    extra = replace(options, root=str(options.root), grpc_port=grpc_port, workers=1, rest=False)
    return [subprocess.Popen([sys.executable, "-m", "edgeflow.serving.server", json.dumps(asdict(extra))],
                             preexec_fn=_die_with_parent)
            for _ in range(options.workers - 1)]


def stop_workers(workers: List[subprocess.Popen], grace_s: float = 10.0, signal_them: bool = True) -> None:
    """SIGTERM to every worker (each finishes its requests in flight), then waits; SIGKILL after `grace_s`."""
    for worker in workers if signal_them else ():
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def serve_forever(options: ServerOptions, announce: bool = True) -> int:
    """Serves until SIGTERM or Ctrl-C, then finishes the requests in flight and exits."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before any worker exists, so none is left behind
        signal.signal(sig, lambda *_: stopping.set())
    server = ModelServer(options).start()
    workers = start_workers(options, server.grpc_port) if options.workers > 1 and not stopping.is_set() else []
    if announce:
        print(f"edgeflow serve: gRPC on {options.host}:{server.grpc_port}"
              f"{f' ({options.workers} worker processes)' if workers else ''}, REST on "
              f"http://{options.host}:{server.rest_port}/v1/models/<name>; serving {server.manager.describe()} "
              f"(Ctrl-C to stop)", flush=True)
    while not stopping.wait(0.5):
        pass
    if announce:
        print("edgeflow serve: stopping (finishing requests in flight)", flush=True)
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    server.stop()  # meanwhile the workers finish theirs
    stop_workers(workers, signal_them=False)
    return 0


if __name__ == "__main__":  # an extra worker process, started by start_workers (runpy imported edgeflow first)
    values = json.loads(sys.argv[1])
    sys.exit(serve_forever(ServerOptions(**{**values, "root": Path(values["root"])}), announce=False))
