"""The feature-pyramid detector (``detection.scales`` > 1): heads per stride, assignment per scale, and
decode + NMS over all scales in NumPy equal to the serving graph's TensorFlow path on the same grids."""
import numpy as np
import pytest
import tensorflow as tf

from edgeflow.config import DetectionConfig
from edgeflow.edge import detection as np_post
from edgeflow.models.detection import postprocess as tf_post
from edgeflow.models.detection.loss import YoloLoss
from edgeflow.models.detection.model import build_yolo
from edgeflow.models.detection.targets import encode_scales, encode_targets
from tests.models.detection.yolo_helpers import raw_for_boxes

# Two scales, two anchors each, finest first: small shapes on the 8x8 grid, large on the 4x4.
ANCHORS = np.array([[[0.1, 0.1], [0.12, 0.2]], [[0.4, 0.4], [0.5, 0.3]]], np.float32)
GRIDS = (8, 4)


def test_pyramid_has_one_head_per_stride_finest_first():
    model = build_yolo((32, 32, 1), num_classes=3, num_anchors=2, blocks=3, filters=4, scales=2)
    assert [o.name.split("/")[0] for o in model.outputs] == ["raw_grid_0", "raw_grid_1"]
    assert [tuple(o.shape[1:]) for o in model.outputs] == [(8, 8, 2, 8), (4, 4, 2, 8)]
    three = build_yolo((32, 32, 1), num_classes=3, num_anchors=2, blocks=3, filters=4, scales=3)
    assert [tuple(o.shape[1:3]) for o in three.outputs] == [(16, 16), (8, 8), (4, 4)]
    with pytest.raises(ValueError, match="scales must be between 1 and blocks"):
        build_yolo((32, 32, 1), num_classes=3, num_anchors=2, blocks=2, filters=4, scales=3)


def test_config_grids_finest_first_and_anchor_count_per_scale():
    cfg = DetectionConfig(image_size=128, blocks=4, scales=2)
    assert cfg.grids == (16, 8) and cfg.grid == 8
    assert DetectionConfig(image_size=64).grids == (8,)


def test_each_box_trains_the_scales_whose_anchors_fit_its_shape():
    boxes = np.array([[0.3, 0.3, 0.1, 0.11], [0.7, 0.7, 0.45, 0.35]], np.float32)
    small, large = encode_scales(boxes, np.array([0, 1]), ANCHORS, GRIDS, 2, anchor_t=2.0)
    assert small.shape == (8, 8, 2, 7) and large.shape == (4, 4, 2, 7)
    # The small box: positives on the fine grid only (its centre cell and two neighbours), class 0;
    # the large one: the coarse grid only, class 1 (0.45 / 0.1 > 2 rules out every small anchor).
    assert small[..., 4].sum() > 0 and np.all(small[small[..., 4] == 1][:, 5] == 1)
    assert large[..., 4].sum() > 0 and np.all(large[large[..., 4] == 1][:, 6] == 1)
    assert small[5, 5, :, 4].sum() == 0 and large[1, 1, :, 4].sum() == 0
    # With one scale the pyramid's targets are the single-grid ones.
    one = encode_scales(boxes, np.array([0, 1]), ANCHORS[1:], GRIDS[1:], 2)[0]
    np.testing.assert_array_equal(one, encode_targets(boxes, np.array([0, 1]), ANCHORS[1], 4, 2))


def test_a_box_no_anchor_fits_goes_to_its_one_best_anchor_not_one_per_scale():
    thin = np.array([[0.5, 0.5, 0.9, 0.05]], np.float32)  # no anchor within 2x on both sides
    small, large = encode_scales(thin, np.array([0]), ANCHORS, GRIDS, 1, anchor_t=2.0)
    assert (small[..., 4].sum() > 0) != (large[..., 4].sum() > 0)


def test_objectness_balance_weighs_only_the_objectness_part():
    target = encode_targets(np.array([[0.4, 0.4, 0.12, 0.12]]), np.array([0]), ANCHORS[0], 8, 2)[None]
    raw = tf.random.stateless_normal(target.shape, [0, 1])
    plain = [float(p[0]) for p in YoloLoss(ANCHORS[0]).parts(target, raw)]
    heavy = [float(p[0]) for p in YoloLoss(ANCHORS[0], obj_balance=4.0).parts(target, raw)]
    assert heavy[0] == pytest.approx(plain[0]) and heavy[2] == pytest.approx(plain[2])
    assert heavy[1] == pytest.approx(4.0 * plain[1], rel=1e-5)


def test_numpy_and_tensorflow_decode_and_nms_agree_over_all_scales():
    fine = raw_for_boxes([(0.3, 0.3, 0.1, 0.1, 1, 0), (0.32, 0.31, 0.1, 0.11, 1, 1)], ANCHORS[0], 8, 2)
    fine[2, 2, 1, 4] = 1.0  # the second: a weaker duplicate of the first, on the same scale
    coarse = raw_for_boxes([(0.7, 0.6, 0.45, 0.35, 0, 1), (0.3, 0.3, 0.11, 0.1, 1, 0)], ANCHORS[1], 4, 2)
    coarse[1, 1, 0, 4] = 2.0  # a duplicate of the fine grid's first box, from the coarse grid
    rng = np.random.default_rng(0)
    fine[..., :4] += np.where(fine[..., 4:5] < 0, rng.normal(0, 1, fine[..., :4].shape), 0).astype(np.float32)
    tf_out = tf_post.detect([tf.constant(fine[None]), tf.constant(coarse[None])], ANCHORS, 0.25, 0.45, 10)
    n = int(tf_out["num_detections"][0])
    np_out = np_post.detect([fine, coarse], ANCHORS, 0.25, 0.45, 10)
    assert n == len(np_out.scores) == 2  # one box per object: duplicates within and across scales suppressed
    np.testing.assert_allclose(tf_out["boxes"][0, :n].numpy(), np_out.boxes, atol=1e-5)
    np.testing.assert_allclose(tf_out["scores"][0, :n].numpy(), np_out.scores, atol=1e-5)
    np.testing.assert_array_equal(tf_out["classes"][0, :n].numpy(), np_out.classes)
    np.testing.assert_allclose(sorted(np_out.boxes[:, 0]), [0.25, 0.475], atol=1e-4)
    # And on random grids, with the low-score tail the evaluator keeps.
    grids = [rng.normal(0, 2, (g, g, 2, 7)).astype(np.float32) for g in GRIDS]
    tf_out = tf_post.detect([tf.constant(g[None]) for g in grids], ANCHORS, 0.05, 0.45, 30)
    np_out = np_post.detect(grids, ANCHORS, 0.05, 0.45, 30)
    n = int(tf_out["num_detections"][0])
    assert n == len(np_out.scores) == 30
    np.testing.assert_allclose(tf_out["scores"][0, :n].numpy(), np_out.scores, atol=1e-5)
    np.testing.assert_allclose(tf_out["boxes"][0, :n].numpy(), np_out.boxes, atol=1e-5)


def test_grid_outputs_orders_the_scales_finest_first():
    outs = {"raw_grid_1": "coarse", "raw_grid_10": "last", "raw_grid_0": "fine"}
    assert np_post.grid_outputs(outs) == ["fine", "coarse", "last"]
    assert np_post.grid_outputs({"raw_grid": "one"}) == ["one"]
    with pytest.raises(ValueError, match="no raw_grid"):
        np_post.grid_outputs({"boxes": 1})
