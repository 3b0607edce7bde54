"""TF Serving's on-disk layout: ``<root>/<model name>/<integer version>/saved_model.pb``.

Besides the versions, TF Serving reads two text protos that edgeflow writes for a serving
root: ``models.config`` (a ``ModelServerConfig`` listing every model under the root, with
local base paths), ``models.container.config`` (the same, with base paths as the container
sees them when the root is mounted at ``container_root``, ``/models`` by default) and
``batching_parameters`` (a ``BatchingParameters``). With them the real server runs as::

    tensorflow_model_server --port=8500 --rest_api_port=8501 \\
        --model_config_file=<root>/models.config --model_config_file_poll_wait_seconds=60 \\
        --enable_batching --batching_parameters_file=<root>/batching_parameters
    docker run -p 8500:8500 -p 8501:8501 -v <root>:/models tensorflow/serving \\
        --model_config_file=/models/models.container.config \\
        --enable_batching --batching_parameters_file=/models/batching_parameters
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Dict, List, Union

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

MODELS_CONFIG = "models.config"
CONTAINER_MODELS_CONFIG = "models.container.config"
BATCHING_PARAMETERS = "batching_parameters"


def list_versions(base_path: Path) -> List[int]:
    """Integer versions under a model's base path that hold a SavedModel, ascending."""
    base = Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.name.isdigit() and (p / "saved_model.pb").is_file())


def find_models(root: Path) -> Dict[str, Path]:
    """Model name -> base path, for every folder under `root` with at least one version."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {p.name: p.resolve() for p in sorted(root.iterdir()) if p.is_dir() and list_versions(p)}


def models_config(models: Dict[str, Union[Path, PurePosixPath]]) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    for name, base_path in sorted(models.items()):
        entry = config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, str(base_path), "tensorflow"
        entry.model_version_policy.latest.num_versions = 1
    return config


def batching_parameters(max_batch_size: int, batch_timeout_ms: float, threads: int = 2) -> str:
    """A ``BatchingParameters`` text proto (its proto is not in tensorflow-serving-api, so written as text)."""
    values = {"max_batch_size": max_batch_size, "batch_timeout_micros": int(batch_timeout_ms * 1000),
              "num_batch_threads": threads, "max_enqueued_batches": 1000}
    return "".join(f"{key} {{ value: {value} }}\n" for key, value in values.items())


def write_serving_files(root: Path, max_batch_size: int = 32, batch_timeout_ms: float = 0.0,
                        container_root: str = "/models") -> Path:
    """Writes ``models.config`` (every model under `root`), ``models.container.config`` (the same
    with `root` seen at `container_root`) and ``batching_parameters``; returns the local config's path."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / BATCHING_PARAMETERS).write_text(batching_parameters(max_batch_size, batch_timeout_ms))
    models = find_models(root)
    inside = {name: PurePosixPath(container_root) / name for name in models}
    (root / CONTAINER_MODELS_CONFIG).write_text(text_format.MessageToString(models_config(inside)))
    path = root / MODELS_CONFIG
    path.write_text(text_format.MessageToString(models_config(models)))
    return path


def read_models_config(path: Path) -> Dict[str, Path]:
    """Model name -> base path from a ``models.config`` text proto."""
    config = text_format.Parse(Path(path).read_text(), model_server_config_pb2.ModelServerConfig())
    return {c.name: Path(c.base_path) for c in config.model_config_list.config}
