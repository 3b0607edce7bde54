"""Reading the DetectionExampleGen's tf.Examples back (trainer and evaluator share this)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from edgeflow.models.features import BOX_KEYS, CLASS_KEY
from edgeflow.models.features import IMAGE_KEY
from edgeflow.models.splits import Source, iter_examples, sample_examples


@dataclass
class DetectionSet:
    encoded: List[bytes]  # N encoded PNG/JPEG images
    boxes: List[np.ndarray]  # N x (n_i, 4) (cx, cy, w, h) in [0, 1]
    classes: List[np.ndarray]  # N x (n_i,) int

    def __len__(self):
        return len(self.encoded)

    def subset(self, indices) -> "DetectionSet":
        return DetectionSet([self.encoded[i] for i in indices], [self.boxes[i] for i in indices],
                            [self.classes[i] for i in indices])


def read_detection_examples(source: Source, limit: Optional[int] = None) -> DetectionSet:
    """Every example (at most `limit`) of `source` (a split folder, file patterns: see
    :func:`edgeflow.models.splits.split_files`), in file order."""
    return _detection_set(iter_examples(source, limit))


def sample_detection_examples(source: Source, k: int, seed: int = 0) -> Tuple[DetectionSet, int]:
    """(a seeded uniform sample of at most `k` examples of `source` (0: all), how many it held)."""
    kept, seen = sample_examples(source, k, seed)
    return _detection_set(kept), seen


def _detection_set(examples: Iterable) -> DetectionSet:
    out = DetectionSet([], [], [])
    for example in examples:
        feats = example.features.feature
        out.encoded.append(feats[IMAGE_KEY].bytes_list.value[0])
        out.boxes.append(np.stack([np.asarray(feats[k].float_list.value, np.float32) for k in BOX_KEYS], -1))
        out.classes.append(np.asarray(feats[CLASS_KEY].int64_list.value, np.int64))
    return out


def decode_images(encoded: Sequence[bytes], size: int, channels: int, batch: int = 256) -> np.ndarray:
    """Encoded images -> (N, size, size, channels) float32 in [0, 1], as the serving graph decodes them."""
    from edgeflow.models.image.transform import decode_images as decode_graph

    parts = [decode_graph(tf.constant(list(encoded[i:i + batch])), size, channels).numpy()
             for i in range(0, len(encoded), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, size, size, channels), np.float32)
