"""EdgeExport's loaders read bounded, seeded samples of the splits and say how much they held."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from edgeflow.components.edge_export.data import Sampling, detection_data, load_edge_data
from edgeflow.components.edge_export.variants import ConversionError
from edgeflow.models.features import IMAGE_FEATURE, LABEL_KEY


def _write_split(folder, n):
    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / "part-0.gz"), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for i in range(n):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                IMAGE_FEATURE: tf.train.Feature(float_list=tf.train.FloatList(value=[i / n] * 4)),
                LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2]))})).SerializeToString())


def test_the_image_loader_samples_each_split_within_its_limit(tmp_path):
    _write_split(tmp_path / "Split-train", 90)
    _write_split(tmp_path / "Split-eval", 30)
    model = SimpleNamespace(input_shape=(None, 2, 2, 1))
    data = load_edge_data("image", model, "", str(tmp_path), None, {}, ["a", "b"], Sampling(20, 0, seed=3))
    assert (len(data.x_train), data.train_seen, len(data.x_eval), data.eval_seen) == (20, 90, 30, 30)
    index = np.rint(data.x_train[:, 0, 0, 0] * 90).astype(int)  # which examples the sample holds
    assert len(set(index)) == 20 and index.max() >= 20  # not simply the first 20
    np.testing.assert_array_equal(data.y_train, index % 2)  # labels stay with their images
    again = load_edge_data("image", model, "", str(tmp_path), None, {}, ["a", "b"], Sampling(20, 0, seed=3))
    np.testing.assert_array_equal(again.x_train, data.x_train)


def test_a_feature_pyramid_detector_is_refused_in_one_sentence(tmp_path):
    meta = tmp_path / "detection.json"
    meta.write_text(json.dumps({"anchors": [[[0.1, 0.1]], [[0.4, 0.4]]], "grid": 4, "grids": [8, 4]}))
    with pytest.raises(ConversionError, match="detection.scales=1 to export"):
        detection_data(None, str(tmp_path), str(meta), {})
