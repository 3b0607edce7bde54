"""Warm start: copy the last blessed model's weights into a freshly built model."""
from __future__ import annotations

import logging
from typing import Optional

log = logging.getLogger("edgeflow.train")


def copy_matching_weights(model, base_model_dir: Optional[str]) -> int:
    """Copies weights layer by layer (same name, same shapes) from the SavedModel at `base_model_dir`;
    returns how many layers were warm-started (0 when there is no base model)."""
    if not base_model_dir:
        return 0
    import tensorflow as tf

    base = tf.keras.models.load_model(base_model_dir, compile=False)
    base_layers = {layer.name: layer for layer in base.layers}
    copied = 0
    for layer in model.layers:
        old = base_layers.get(layer.name)
        if old is None or not layer.weights:
            continue
        weights = old.get_weights()
        if [w.shape for w in weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(weights)
            copied += 1
    log.info("  warm start: %d layers from %s", copied, base_model_dir)
    return copied
