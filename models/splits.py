"""The one reader of an Examples artifact's splits: GZIP TFRecord files of tf.Examples, streamed.

ExampleGen and Transform write each split as ``<examples uri>/Split-<name>/*.gz``. Everything that
reads a split back (EdgeExport's calibration data, the shallow baseline, the sequence and
detection evaluators, the trainers) goes through this module:

* :func:`split_files`: a split folder, a file pattern or a list of patterns -> the files, sorted;
* :func:`iter_examples`: the records one by one as ``tf.train.Example`` protos (any features);
* :func:`iter_batches`: batches parsed with a feature spec, as numpy arrays;
* :func:`read_split`: those batches stacked into one array per feature (the whole split in memory);
* :func:`sample_split`: a seeded uniform sample of at most ``k`` of them, in bounded memory;
* :func:`sample_examples`: the same for ``tf.train.Example`` protos;
* :func:`read_all_features`: every feature of every example, stacked, without a spec (small sets);
* :func:`split_spec`: the fixed-length spec of some features, read off a split's first example.

All of them stream through ``tf.data`` and stop after ``limit`` examples when one is given.
"""
from __future__ import annotations

import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

Source = Union[str, Sequence[str]]


def split_dir(examples_uri: str, split: str) -> str:
    """The folder of `split` ("train", "eval") inside an Examples artifact, as TFX names it."""
    return os.path.join(examples_uri, f"Split-{split}")


def split_files(source: Source) -> List[str]:
    """`source`: a split folder, a glob pattern (``.../Split-train/*``) or a list of them -> sorted files."""
    import tensorflow as tf

    patterns = [source] if isinstance(source, str) else list(source)
    files = []
    for pattern in patterns:
        files += tf.io.gfile.glob(os.path.join(pattern, "*") if tf.io.gfile.isdir(pattern) else pattern)
    return sorted(set(files))


def _records(source: Source, limit: Optional[int]):
    """A tf.data.Dataset of the serialized records of `source`, at most `limit` of them."""
    import tensorflow as tf

    ds = tf.data.TFRecordDataset(split_files(source), compression_type="GZIP")
    return ds.take(limit) if limit else ds


def iter_examples(source: Source, limit: Optional[int] = None) -> Iterator:
    """Yields each record of `source` as a ``tf.train.Example``, in file order."""
    import tensorflow as tf

    for record in _records(source, limit).as_numpy_iterator():
        yield tf.train.Example.FromString(record)


def iter_batches(source: Source, spec: dict, batch_size: int = 512,
                 limit: Optional[int] = None) -> Iterator[Dict[str, np.ndarray]]:
    """Yields batches ``{key: (B, *shape)}`` parsed with `spec` (``tf.io.FixedLenFeature`` values)."""
    import tensorflow as tf

    ds = _records(source, limit).batch(batch_size).map(lambda rec: tf.io.parse_example(rec, spec))
    yield from ds.as_numpy_iterator()


def read_split(source: Source, spec: dict, limit: Optional[int] = None) -> Dict[str, np.ndarray]:
    """The examples of `source` parsed with `spec`: ``{key: (N, *shape)}``; N = 0 gives empty arrays
    of the spec's shape and dtype."""
    parts: Dict[str, list] = {key: [] for key in spec}
    for batch in iter_batches(source, spec, limit=limit):
        for key in spec:
            parts[key].append(batch[key])
    return {key: np.concatenate(parts[key]) if parts[key]
            else np.zeros((0, *spec[key].shape), spec[key].dtype.as_numpy_dtype) for key in spec}


def sample_split(source: Source, spec: dict, k: int, seed: int = 0,
                 batch_size: int = 512) -> Tuple[Dict[str, np.ndarray], int]:
    """(``{key: (n, *shape)}``: a uniform sample of at most `k` examples of `source` parsed with
    `spec`, how many examples the split held). All of them when `k` is 0 or the split is smaller.
    Drawn with `seed` by reservoir sampling, so memory holds `k` examples whatever the size of the
    split; the sample's order is the reservoir's, not the file's."""
    if not k:
        rows = read_split(source, spec)
        return rows, len(next(iter(rows.values()))) if rows else 0
    rng = np.random.default_rng(seed)
    store: Dict[str, np.ndarray] = {}
    seen = 0
    for batch in iter_batches(source, spec, batch_size):
        n = len(next(iter(batch.values())))
        index = np.arange(seen, seen + n)
        if not store:
            store = {key: np.zeros((k, *value.shape[1:]), value.dtype) for key, value in batch.items()}
        slot = np.where(index < k, index, (rng.random(n) * (index + 1)).astype(np.int64))  # Algorithm R
        keep = slot < k
        for key, value in batch.items():
            store[key][slot[keep]] = value[keep]  # a later row in the same batch wins, as row by row
        seen += n
    if not store:
        store = read_split(source, spec)  # an empty split: empty arrays of the spec's shapes
    return {key: value[:min(k, seen)] for key, value in store.items()}, seen


def sample_examples(source: Source, k: int, seed: int = 0) -> Tuple[List, int]:
    """(a uniform sample of at most `k` records of `source` as ``tf.train.Example`` (all when `k`
    is 0), how many the split held), by reservoir sampling with `seed`."""
    rng = np.random.default_rng(seed)
    kept: List = []
    seen = 0
    for example in iter_examples(source):
        if not k or seen < k:
            kept.append(example)
        else:
            slot = int(rng.integers(0, seen + 1))
            if slot < k:
                kept[slot] = example
        seen += 1
    return kept, seen


def read_all_features(source: Source, limit: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Every feature of the examples of `source` without a spec: ``{key: (N, length)}``; each feature
    must have the same length in every example (small eval sets only: rows are Python lists first)."""
    rows: Dict[str, list] = {}
    for example in iter_examples(source, limit):
        for key, feat in example.features.feature.items():
            rows.setdefault(key, []).append(list(getattr(feat, feat.WhichOneof("kind")).value))
    return {key: np.array(values) for key, values in rows.items()}


def split_spec(source, keys) -> dict:
    """The fixed-length spec of `keys` (float or int64 features), read off the split's first example."""
    import tensorflow as tf

    example = next(iter_examples(source, 1), None)
    if example is None:
        raise ValueError(f"the split {source} holds no examples")
    spec = {}
    for key in keys:
        feat = example.features.feature[key]
        kind = feat.WhichOneof("kind")
        spec[key] = tf.io.FixedLenFeature([len(getattr(feat, kind).value)],
                                          tf.float32 if kind == "float_list" else tf.int64)
    return spec
