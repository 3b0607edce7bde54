"""The one split reader (models/splits.py) on real GZIP TFRecord files, as ExampleGen writes them."""
import numpy as np
import pytest
import tensorflow as tf

from edgeflow.models.splits import (iter_batches, iter_examples, read_all_features, read_split, sample_examples,
                                    sample_split, split_dir, split_files)


def _example(i: int) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[i, i + 0.5])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
        "name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"e{i}".encode()])),
    })).SerializeToString()


@pytest.fixture(scope="module")
def examples_uri(tmp_path_factory):
    """An Examples artifact: Split-train in two files (ids 0-4, 5-9), Split-eval (ids 100, 101)."""
    root = tmp_path_factory.mktemp("examples")
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    for split, files in {"train": {"data_tfrecord-00001-of-00002.gz": range(5, 10),
                                   "data_tfrecord-00000-of-00002.gz": range(0, 5)},
                         "eval": {"data_tfrecord-00000-of-00001.gz": range(100, 102)}}.items():
        (root / f"Split-{split}").mkdir()
        for name, ids in files.items():
            with tf.io.TFRecordWriter(str(root / f"Split-{split}" / name), options) as w:
                for i in ids:
                    w.write(_example(i))
    return str(root)


SPEC = {"x": tf.io.FixedLenFeature([2], tf.float32), "label": tf.io.FixedLenFeature([], tf.int64)}


def test_a_split_folder_a_pattern_and_a_list_name_the_same_sorted_files(examples_uri):
    train = split_dir(examples_uri, "train")
    files = split_files(train)
    assert [f.rsplit("-", 3)[-3] for f in files] == ["00000", "00001"]
    assert split_files(train + "/*") == files == split_files([train + "/*00000*", train + "/*00001*"])


def test_read_split_stacks_every_example_in_file_order(examples_uri):
    rows = read_split(split_dir(examples_uri, "train"), SPEC)
    np.testing.assert_allclose(rows["x"][:, 0], np.arange(10))  # (N, 2), files 00000 then 00001
    assert rows["x"].shape == (10, 2) and rows["x"].dtype == np.float32
    np.testing.assert_array_equal(rows["label"], np.arange(10) % 3)


def test_limit_stops_the_stream(examples_uri):
    train = split_dir(examples_uri, "train")
    assert read_split(train, SPEC, limit=3)["label"].tolist() == [0, 1, 2]
    assert [e.features.feature["name"].bytes_list.value[0] for e in iter_examples(train, limit=2)] == [b"e0", b"e1"]
    assert [len(b["label"]) for b in iter_batches(train, SPEC, batch_size=4)] == [4, 4, 2]


def test_an_empty_split_gives_arrays_of_the_specs_shape(tmp_path):
    (tmp_path / "Split-eval").mkdir()
    rows = read_split(split_dir(str(tmp_path), "eval"), SPEC)
    assert rows["x"].shape == (0, 2) and rows["x"].dtype == np.float32 and rows["label"].shape == (0,)


def test_read_all_features_needs_no_spec(examples_uri):
    rows = read_all_features(split_dir(examples_uri, "eval"))
    np.testing.assert_allclose(rows["x"], [[100, 100.5], [101, 101.5]])
    assert rows["label"].tolist() == [[1], [2]] and rows["name"].tolist() == [[b"e100"], [b"e101"]]


def test_a_sample_keeps_whole_rows_counts_the_split_and_repeats_with_its_seed(examples_uri):
    train = split_dir(examples_uri, "train")
    rows, seen = sample_split(train, SPEC, 4, seed=3, batch_size=3)
    assert seen == 10 and rows["x"].shape == (4, 2) and len(set(rows["x"][:, 0])) == 4
    np.testing.assert_allclose(rows["x"][:, 1], rows["x"][:, 0] + 0.5)  # each row's features stay together
    np.testing.assert_array_equal(rows["label"], rows["x"][:, 0].astype(int) % 3)
    again, _ = sample_split(train, SPEC, 4, seed=3, batch_size=3)
    np.testing.assert_array_equal(again["x"], rows["x"])
    everything, seen = sample_split(train, SPEC, 50)
    assert seen == 10 and sorted(everything["x"][:, 0]) == list(range(10))
    assert sample_split(train, SPEC, 0)[0]["x"].shape == (10, 2)  # 0: the whole split


@pytest.mark.parametrize("batch_size", [512, 3])
def test_a_sample_is_uniform_over_the_split(examples_uri, batch_size):
    """Algorithm R: each of the 10 examples lands in a 4-sample with probability 0.4, late ones too."""
    train = split_dir(examples_uri, "train")
    counts = np.zeros(10)
    for seed in range(200):
        rows, _ = sample_split(train, SPEC, 4, seed=seed, batch_size=batch_size)
        counts[rows["x"][:, 0].astype(int)] += 1
    assert counts.sum() == 800 and np.all(np.abs(counts - 80) < 30), counts  # binomial sd ~ 7


def test_a_sample_of_examples_keeps_protos(examples_uri):
    train = split_dir(examples_uri, "train")
    kept, seen = sample_examples(train, 3, seed=1)
    names = {e.features.feature["name"].bytes_list.value[0] for e in kept}
    assert seen == 10 and len(names) == 3 and names <= {f"e{i}".encode() for i in range(10)}
    assert len(sample_examples(train, 0)[0]) == 10
