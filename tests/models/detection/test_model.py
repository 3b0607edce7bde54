"""The YOLO model's shapes, its loss, targets, anchors, augmentation, and TF decoding + NMS."""
import numpy as np
import pytest
import tensorflow as tf

from edgeflow.edge import detection as np_post
from edgeflow.models.detection import postprocess as tf_post
from edgeflow.models.detection.model import build_yolo
from edgeflow.models.detection.loss import YoloLoss, box_iou_xywh
from edgeflow.models.detection.augment import augment
from edgeflow.models.detection.targets import encode_targets, kmeans_anchors, match_anchors, positive_cells
from tests.models.detection.yolo_helpers import raw_for_boxes, raw_for_target

ANCHORS = np.array([[0.15, 0.15], [0.3, 0.35]], np.float32)


def test_model_outputs_one_prediction_per_cell_and_anchor():
    model = build_yolo((32, 32, 1), num_classes=4, num_anchors=2, blocks=2, filters=4)
    out = model(np.ones((2, 32, 32, 1), np.float32))
    assert out.shape == (2, 8, 8, 2, 9)
    assert float(tf.reduce_mean(tf.sigmoid(out[..., 4]))) < 0.1  # objectness starts low


@pytest.mark.parametrize("box_loss", ["sqrt", "iou", "ciou"])
def test_loss_is_near_zero_when_prediction_equals_target_and_grows_as_box_moves(box_loss):
    loss = YoloLoss(ANCHORS, lambda_coord=5.0, lambda_noobj=0.5, box_loss=box_loss)
    box = np.array([[0.41, 0.52, 0.2, 0.3]], np.float32)
    target = encode_targets(box, np.array([2]), ANCHORS, grid=4, num_classes=3)
    values = []
    for shift in (0.0, 0.02, 0.05, 0.1):
        moved = target.copy()
        moved[..., 0] += shift * 4 * target[..., 4]  # every positive's box shifted right by `shift` of the image
        values.append(float(loss(target[None], raw_for_target(moved, ANCHORS)[None])))
    assert values[0] < 1e-3
    assert values == sorted(values) and values[-1] > values[1] > values[0] + 1e-3


def test_loss_parts_are_logged_separately_and_sum_to_the_loss():
    loss = YoloLoss(ANCHORS)
    target = encode_targets(np.array([[0.4, 0.4, 0.15, 0.15]]), np.array([0]), ANCHORS, 4, 2)[None]
    raw = np.random.default_rng(0).normal(size=target.shape).astype(np.float32)
    parts = [float(m(target, raw)[0]) for m in loss.part_metrics()]
    assert [m.__name__ for m in loss.part_metrics()] == ["box_loss", "obj_loss", "cls_loss"]
    assert all(p > 0 for p in parts) and sum(parts) == pytest.approx(float(loss(target, raw)), rel=1e-5)


def test_objectness_target_is_the_predicted_box_iou():
    # A box predicted at half the true width (IoU 0.5) with objectness ~1 costs BCE(0.5, ~1) = 0.5 * 12
    # at each positive; the same box predicted exactly costs ~0.
    loss = YoloLoss(ANCHORS[:1], lambda_coord=0.0, lambda_noobj=0.0, box_loss="iou")
    target = encode_targets(np.array([[0.375, 0.375, 0.15, 0.15]]), np.array([0]), ANCHORS[:1], 4, 1)
    assert target[..., 4].sum() == 1  # centre mid-cell: no neighbours
    half = target.copy()
    half[..., 2] *= 0.5
    _, exact, _ = loss.parts(target[None], raw_for_target(target, ANCHORS[:1])[None])
    _, loose, _ = loss.parts(target[None], raw_for_target(half, ANCHORS[:1])[None])
    assert float(exact[0]) < 1e-3 and float(loose[0]) == pytest.approx(0.5 * 12.0, rel=1e-3)


def test_ciou_against_hand_computed_values():
    def ciou(a, b):  # boxes (cx, cy, w, h) of the image, grid 1: centre in cell units = fraction
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        return float(box_iou_xywh(a[:2], a[2:], b[:2], b[2:], grid=1, ciou=True))

    assert ciou([0.5, 0.5, 0.2, 0.3], [0.5, 0.5, 0.2, 0.3]) == pytest.approx(1.0, abs=1e-6)
    # Same shape, centres 0.2 apart in x: IoU = 0 (they only touch), rho^2 = 0.04, the enclosing box is
    # 0.4 x 0.2, c^2 = 0.2, v = 0: CIoU = -0.2.
    assert ciou([0.4, 0.5, 0.2, 0.2], [0.6, 0.5, 0.2, 0.2]) == pytest.approx(-0.2, abs=1e-6)
    # Same centre, 0.2 x 0.2 inside 0.4 x 0.2: IoU = 0.5, rho = 0, v = 4/pi^2 (atan 2 - atan 1)^2,
    # alpha = v / (0.5 + v).
    v = 4 / np.pi ** 2 * (np.arctan(2.0) - np.arctan(1.0)) ** 2
    assert ciou([0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.4, 0.2]) == pytest.approx(0.5 - v * v / (0.5 + v), abs=1e-6)


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


def test_an_object_off_centre_gets_its_cell_and_two_nearest_neighbours_as_positives():
    # Centre at (1.3, 2.8) cells of a 4x4 grid: left of mid-cell in x, below it in y.
    assert positive_cells(1.3 / 4, 2.8 / 4, 4) == [(2, 1), (2, 0), (3, 1)]
    assert positive_cells(1.3 / 4, 2.8 / 4, 4, neighbours=False) == [(2, 1)]
    assert positive_cells(0.1 / 4, 3.9 / 4, 4) == [(3, 0)]  # at the image's corner there are no neighbours there
    t = encode_targets(np.array([[1.3 / 4, 2.8 / 4, 0.14, 0.16]]), np.array([1]), ANCHORS[:1], 4, 2)
    assert t[..., 4].sum() == 3
    # Each positive holds the same box in its own cell's units: (1.3 - col, 2.8 - row).
    np.testing.assert_allclose(t[2, 1, 0], [0.3, 0.8, 0.14, 0.16, 1, 0, 1], atol=1e-6)
    np.testing.assert_allclose(t[2, 0, 0], [1.3, 0.8, 0.14, 0.16, 1, 0, 1], atol=1e-6)
    np.testing.assert_allclose(t[3, 1, 0], [0.3, -0.2, 0.14, 0.16, 1, 0, 1], atol=1e-6)


def test_anchors_match_by_shape_ratio_and_every_box_keeps_one():
    anchors = np.array([[0.05, 0.05], [0.1, 0.1], [0.5, 0.5]], np.float32)
    fits = match_anchors(np.array([[0.12, 0.1], [0.9, 0.01]]), anchors, anchor_t=4.0)
    # 0.12 x 0.1 is within 4x of the first two anchors' sides (2.4, 1.2), not of the third (4.2 > 4).
    np.testing.assert_array_equal(fits[0], [True, True, False])
    assert fits[1].sum() == 1  # a 90:1 sliver fits none: it keeps its best anchor by IoU
    t = encode_targets(np.array([[0.6, 0.3, 0.12, 0.1]]), np.array([0]), anchors, 4, 2)
    assert t[..., 4].sum() == 3 * 2  # 3 cells x 2 anchors


def test_tf_and_numpy_box_decoding_agree_on_random_grids():
    from edgeflow.models.detection.loss import decode_xywh

    raw = np.random.default_rng(1).normal(0, 3, (4, 4, 2, 7)).astype(np.float32)
    tf_xy, tf_wh = decode_xywh(tf.constant(raw), tf.constant(ANCHORS))
    np_xy, np_wh = np_post.decode_xywh(raw, ANCHORS)
    np.testing.assert_allclose(tf_xy.numpy(), np_xy, atol=1e-6)
    np.testing.assert_allclose(tf_wh.numpy(), np_wh, atol=1e-6)
    assert np_xy.min() > -0.5 and np_xy.max() < 1.5 and np.all(np_wh < 4 * ANCHORS)  # bounded
    tf_boxes, tf_scores = tf_post.decode(tf.constant(raw[None]), tf.constant(ANCHORS))
    np_boxes, np_scores = np_post.decode(raw, ANCHORS)
    np.testing.assert_allclose(tf_boxes.numpy()[0], np_boxes, atol=1e-6)
    np.testing.assert_allclose(tf_scores.numpy()[0], np_scores, atol=1e-6)


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
