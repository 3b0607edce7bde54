"""Which model versions are served: TF Serving's latest-version policy, with hot swaps.

A watcher thread polls every model's base path. When a new highest integer version appears
and its files have stopped changing for one poll, it is loaded, answers its warm-up requests
(``assets.extra/tf_serving_warmup_requests``) and only then replaces the old version. The old
one is retired after the requests still using it have finished, so a swap fails no request.
A version that fails to load or warm up is reported (state END, with the error) and the old
version keeps serving.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from tensorflow_serving.apis import get_model_status_pb2

from edgeflow.serving.errors import not_found
from edgeflow.serving.export import read_warmup_requests
from edgeflow.serving.layout import find_models, list_versions
from edgeflow.serving.servable import Servable
from edgeflow.serving.tensors import from_tensor_proto

log = logging.getLogger("edgeflow.serving")
State = get_model_status_pb2.ModelVersionStatus.State


@dataclass
class VersionStatus:
    version: int
    state: int  # a ModelVersionStatus.State
    error: str = ""


def files_fingerprint(path: Path) -> Tuple:
    return tuple(sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*") if p.is_file()))


def warm_up(servable: Servable) -> int:
    """Replays the version's warm-up Predict requests; raises on the first that fails."""
    count = 0
    for record in read_warmup_requests(servable.path):
        request = record.predict_log.request
        inputs = {alias: from_tensor_proto(proto) for alias, proto in request.inputs.items()}
        servable.signature(request.model_spec.signature_name)(inputs)
        count += 1
    return count


class ModelManager:
    """Serves the latest version of every model under `root` (and of any model added there later)."""

    def __init__(self, root: Path, batching: Optional[dict] = None, poll_seconds: float = 1.0):
        self.root, self.batching, self.poll_seconds = Path(root), batching, poll_seconds
        self._serving: Dict[str, Servable] = {}
        self._status: Dict[str, Dict[int, VersionStatus]] = {}
        self._seen: Dict[Tuple[str, int], Tuple] = {}  # last fingerprint of a candidate version
        self._tried: Dict[Tuple[str, int], Tuple] = {}  # fingerprint at the last load attempt
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Loads the latest version of every model now, then watches the root in a thread."""
        self.poll(require_stable=False)
        self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        for name in list(self._serving):
            self._retire(name, self._serving.pop(name))

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the watcher must outlive a bad poll
                log.exception("polling %s failed", self.root)

    def poll(self, require_stable: bool = True) -> None:
        for name, base_path in find_models(self.root).items():
            versions = list_versions(base_path)
            current = self._serving.get(name)
            target = versions[-1] if versions else None
            if target is None or (current is not None and current.version == target):
                continue
            fingerprint = files_fingerprint(base_path / str(target))
            stable = self._seen.get((name, target)) == fingerprint or not require_stable
            self._seen[(name, target)] = fingerprint
            if stable and self._tried.get((name, target)) != fingerprint:
                self._tried[(name, target)] = fingerprint
                self._load(name, target, base_path / str(target))
        for name in [n for n, s in self._serving.items() if s.version not in list_versions(s.path.parent)]:
            log.info("model %s version %d was removed from disk; unloading it", name, self._serving[name].version)
            with self._lock:
                old = self._serving.pop(name)
            self._retire(name, old)

    def _set_status(self, name: str, version: int, state: int, error: str = "") -> None:
        self._status.setdefault(name, {})[version] = VersionStatus(version, state, error)

    def _load(self, name: str, version: int, path: Path) -> None:
        self._set_status(name, version, State.LOADING)
        try:
            servable = Servable(name, version, path, self.batching)
            requests = warm_up(servable)
        except Exception as err:  # noqa: BLE001 - reported in the status; the old version keeps serving
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.error("model %s version %d did not load: %s", name, version, message)
            self._set_status(name, version, State.END, f"loading failed: {message}")
            return
        with self._lock:
            old = self._serving.get(name)
            self._serving[name] = servable
            self._set_status(name, version, State.AVAILABLE)
        log.info("serving model %s version %d (%d warm-up requests answered)", name, version, requests)
        if old is not None:
            self._retire(name, old)

    def _retire(self, name: str, servable: Servable) -> None:
        self._set_status(name, servable.version, State.UNLOADING)
        with servable.idle:
            servable.retiring = True
            servable.idle.wait_for(lambda: servable.inflight == 0, timeout=60)
        servable.close()
        self._set_status(name, servable.version, State.END)

    # ---- requests ------------------------------------------------------------------------
    @contextlib.contextmanager
    def acquire(self, name: str, version: Optional[int] = None) -> Iterator[Servable]:
        """The servable for a request, held (not retired) until the request is answered."""
        with self._lock:
            servable = self._serving.get(name)
            if servable is None or (version is not None and servable.version != version):
                wanted = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
                raise not_found(f"Servable not found for request: {wanted}; served models: "
                                f"{self.describe() or 'none'}")
            with servable.idle:
                servable.inflight += 1
        try:
            yield servable
        finally:
            with servable.idle:
                servable.inflight -= 1
                if servable.retiring:  # only a retiring version has someone waiting for it to go idle
                    servable.idle.notify_all()

    def describe(self) -> str:
        return ", ".join(f"{n} version {s.version}" for n, s in sorted(self._serving.items()))

    def status(self, name: str, version: Optional[int] = None) -> List[VersionStatus]:
        versions = self._status.get(name)
        if not versions:
            raise not_found(f"Could not find any versions of model {name}; check the model name")
        if version is None:
            return [versions[v] for v in sorted(versions, reverse=True)]
        if version not in versions:
            raise not_found(f"Could not find version {version} of model {name}; "
                            f"known versions: {', '.join(map(str, sorted(versions)))}")
        return [versions[version]]


def predict(manager: ModelManager, name: str, version: Optional[int], signature_key: str,
            inputs: Dict, output_filter=()) -> Tuple[int, str, Dict]:
    """Runs one Predict request: (the version that answered, the signature key, outputs by alias)."""
    with manager.acquire(name, version) as servable:
        signature = servable.signature(signature_key)
        return servable.version, signature.key, signature(inputs, output_filter)
