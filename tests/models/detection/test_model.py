"""The YOLO model's shapes, its loss, targets, anchors, augmentation, and TF decoding + NMS."""
import numpy as np
import pytest
import tensorflow as tf

from edgeflow.edge import detection as np_post
from edgeflow.models.detection import postprocess as tf_post
from edgeflow.models.detection.model import build_yolo
from edgeflow.models.detection.loss import YoloLoss
from edgeflow.models.detection.targets import augment, encode_targets, kmeans_anchors
from tests.models.detection.yolo_helpers import raw_for_boxes

ANCHORS = np.array([[0.15, 0.15], [0.3, 0.35]], np.float32)


def test_model_outputs_one_prediction_per_cell_and_anchor():
    model = build_yolo((32, 32, 1), num_classes=4, num_anchors=2, blocks=2, filters=4)
    out = model(np.ones((2, 32, 32, 1), np.float32))
    assert out.shape == (2, 8, 8, 2, 9)
    assert float(tf.reduce_mean(tf.sigmoid(out[..., 4]))) < 0.1  # objectness starts low


@pytest.mark.parametrize("box_loss", ["sqrt", "iou"])
def test_loss_is_near_zero_when_prediction_equals_target_and_grows_as_box_moves(box_loss):
    loss = YoloLoss(ANCHORS, lambda_coord=5.0, lambda_noobj=0.5, box_loss=box_loss)
    box = np.array([[0.41, 0.52, 0.2, 0.3]], np.float32)
    target = encode_targets(box, np.array([2]), ANCHORS, grid=4, num_classes=3)[None]
    a = int(np.argmax(target[0, ..., 4].max(axis=(0, 1))))
    values = []
    for shift in (0.0, 0.02, 0.05, 0.1):
        raw = raw_for_boxes([(0.41 + shift, 0.52, 0.2, 0.3, 2, a)], ANCHORS, grid=4, num_classes=3)[None]
        values.append(float(loss(target, raw)))
    assert values[0] < 1e-3
    assert values == sorted(values) and values[-1] > values[1] > values[0] + 1e-3


def test_loss_penalizes_missed_objects_and_false_alarms():
    loss = YoloLoss(ANCHORS)
    target = encode_targets(np.array([[0.4, 0.4, 0.15, 0.15]]), np.array([0]), ANCHORS, 4, 2)[None]
    silent = raw_for_boxes([], ANCHORS, 4, 2)[None]
    assert float(loss(target, silent)) > 5  # the object is missed: BCE(1, ~0)
    empty = np.zeros_like(target)
    assert float(loss(empty, silent)) < 1e-3
    noisy = silent.copy()
    noisy[0, 0, 0, 0, 4] = 3.0
    assert float(loss(empty, noisy)) > 1.0


def test_targets_put_each_box_in_its_cell_and_best_anchor():
    t = encode_targets(np.array([[0.1, 0.9, 0.14, 0.16], [0.6, 0.3, 0.3, 0.3]]), np.array([1, 0]), ANCHORS, 4, 2)
    assert t.shape == (4, 4, 2, 7) and t[..., 4].sum() == 2
    np.testing.assert_allclose(t[3, 0, 0], [0.4, 0.6, 0.14, 0.16, 1, 0, 1], atol=1e-6)
    np.testing.assert_allclose(t[1, 2, 1], [0.4, 0.2, 0.3, 0.3, 1, 1, 0], atol=1e-6)


def test_kmeans_finds_the_box_shapes():
    rng = np.random.default_rng(0)
    wh = np.concatenate([rng.normal(0.1, 0.005, (50, 2)), rng.normal(0.4, 0.01, (50, 2))])
    anchors = kmeans_anchors(wh, 2)
    np.testing.assert_allclose(anchors, [[0.1, 0.1], [0.4, 0.4]], atol=0.02)


@pytest.mark.parametrize("flip,scale,translate", [(True, 0.0, 0.0), (False, 0.3, 0.0), (False, 0.0, 0.2), (True, 0.2, 0.1)])
def test_augmentation_keeps_boxes_on_their_objects(flip, scale, translate):
    img = np.zeros((40, 40, 1), np.float32)
    img[8:16, 4:20] = 1.0  # a bright 16x8 block
    box = np.array([[12 / 40, 12 / 40, 16 / 40, 8 / 40]], np.float32)
    rng = np.random.default_rng(3)
    for _ in range(5):
        out, boxes, keep = augment(img, box, rng, flip, scale, translate)
        assert keep[0]
        ys, xs = np.nonzero(out[..., 0] > 0.5)
        cx, cy, w, h = boxes[0] * 40
        assert abs(xs.min() - (cx - w / 2)) <= 1.5 and abs(xs.max() + 1 - (cx + w / 2)) <= 1.5
        assert abs(ys.min() - (cy - h / 2)) <= 1.5 and abs(ys.max() + 1 - (cy + h / 2)) <= 1.5


def test_tensorflow_and_numpy_post_processing_agree():
    objects = [(0.3, 0.3, 0.2, 0.2, 1, 0), (0.7, 0.6, 0.3, 0.4, 0, 1), (0.62, 0.62, 0.31, 0.38, 0, 0)]
    raw = raw_for_boxes(objects, ANCHORS, grid=4, num_classes=2)
    raw[2, 2, 0, 4] = 1.0  # the third box: a weaker duplicate of the second
    tf_out = tf_post.detect(tf.constant(raw[None]), ANCHORS, 0.25, 0.45, 10)
    n = int(tf_out["num_detections"][0])
    np_out = np_post.detect(raw, ANCHORS, 0.25, 0.45, 10)
    assert n == len(np_out.scores) == 2
    np.testing.assert_allclose(tf_out["boxes"][0, :n].numpy(), np_out.boxes, atol=1e-5)
    np.testing.assert_allclose(tf_out["scores"][0, :n].numpy(), np_out.scores, atol=1e-5)
    np.testing.assert_array_equal(tf_out["classes"][0, :n].numpy(), np_out.classes)
