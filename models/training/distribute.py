"""Which tf.distribute strategy the Trainer uses, chosen from ``train.distribute``.

* ``none``: the default strategy (one device).
* ``mirrored``: MirroredStrategy, synchronous data parallelism over this machine's GPUs
  (or its CPU when there is none).
* ``multi_worker``: MultiWorkerMirroredStrategy; every worker runs the same Trainer with a
  ``TF_CONFIG`` environment variable naming the cluster and its own task.
* ``auto``: multi_worker when ``TF_CONFIG`` names more than one worker, mirrored when this
  machine has more than one GPU, otherwise none.
"""
from __future__ import annotations

import json
import os
from typing import Mapping, Optional

from edgeflow import EdgeflowError


class DistributeError(EdgeflowError):
    pass


def _cluster_workers(tf_config: Optional[str]) -> int:
    """Workers (chief included) named by a TF_CONFIG JSON string; 0 when unset."""
    if not tf_config:
        return 0
    try:
        cluster = json.loads(tf_config).get("cluster", {})
    except (ValueError, AttributeError):
        raise DistributeError("TF_CONFIG is not valid JSON; set it to {\"cluster\": {\"worker\": [...]}, "
                              "\"task\": {\"type\": \"worker\", \"index\": 0}}") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def choose_strategy(name: str, num_gpus: int, environ: Mapping[str, str] = os.environ) -> str:
    """The strategy kind (``none``, ``mirrored`` or ``multi_worker``) for `name` on this machine."""
    workers = _cluster_workers(environ.get("TF_CONFIG"))
    if name == "auto":
        return "multi_worker" if workers > 1 else "mirrored" if num_gpus > 1 else "none"
    if name == "multi_worker" and workers == 0:
        raise DistributeError("train.distribute=multi_worker needs a TF_CONFIG environment variable naming "
                              "the cluster's workers; set it on every worker or use train.distribute=auto")
    return name


def make_strategy(name: str):
    """The tf.distribute.Strategy for `name`; build and compile the model inside its ``scope()``."""
    import tensorflow as tf

    kind = choose_strategy(name, len(tf.config.list_physical_devices("GPU")))
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
