"""The shallow baseline's pure parts: fit, score (on real TFRecord splits, sampled), and the lift verdict."""
import numpy as np
import pytest
import tensorflow as tf

from edgeflow.components.image.shallow_baseline import baseline_accuracy, lift_verdict, logistic_regression
from edgeflow.models.features import LABEL_KEY


def test_logistic_regression_learns_a_linear_rule_and_not_xor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)).astype("float32")
    linear = (x[:, 0] + x[:, 1] > 0).astype("int64")
    xor = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype("int64")
    assert logistic_regression(x[:300], linear[:300]).score(x[300:], linear[300:]) > 0.95
    assert logistic_regression(x[:300], xor[:300]).score(x[300:], xor[300:]) < 0.7


def _write_split(path, n, rng):
    """n transformed 2x2x1 'images': class 1 is bright on the left column, class 0 on the right."""
    path.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path / "part-0.gz"), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for i in range(n):
            label = i % 2
            image = rng.uniform(0, 0.3, (2, 2, 1)) + 0.7 * np.array([[label, 1 - label]] * 2)[..., None]
            w.write(tf.train.Example(features=tf.train.Features(feature={
                "image_xf": tf.train.Feature(float_list=tf.train.FloatList(value=image.ravel())),
                LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))})).SerializeToString())


def test_the_baseline_fits_on_a_bounded_sample_and_scores_the_whole_eval_stream(tmp_path):
    rng = np.random.default_rng(0)
    _write_split(tmp_path / "train", 600, rng)
    _write_split(tmp_path / "eval", 1100, rng)  # more than one 512-example batch
    spec = {"image_xf": tf.io.FixedLenFeature([2, 2, 1], tf.float32), LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    got = baseline_accuracy(str(tmp_path / "train"), str(tmp_path / "eval"), spec, "image_xf", 50, seed=1)
    assert got["train_examples"] == 50 and got["train_split_examples"] == 600 and got["eval_examples"] == 1100
    assert got["baseline_accuracy"] > 0.95 and got["sample_seed"] == 1
    assert baseline_accuracy(str(tmp_path / "train"), str(tmp_path / "eval"), spec, "image_xf", 0)[
        "train_examples"] == 600  # 0: the whole train split


@pytest.mark.parametrize("cnn, shallow, min_lift, passed", [
    (0.98, 0.90, None, True), (0.98, 0.90, 0.05, True), (0.92, 0.90, 0.05, False), (0.85, 0.90, None, True)])
def test_lift_verdict(cnn, shallow, min_lift, passed):
    v = lift_verdict(cnn, shallow, min_lift)
    assert v["lift"] == pytest.approx(cnn - shallow) and v["passed"] is passed
    assert ("not blessed" in v["message"]) is (not passed)
