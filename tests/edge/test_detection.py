"""NumPy YOLO post-processing (the device side): decoding a hand-built grid, class-aware NMS."""
import subprocess
import sys

import numpy as np

from edgeflow.edge.detection import decode, detect, nms
from tests.models.detection.yolo_helpers import raw_for_boxes, wh_logit

ANCHORS = np.array([[0.2, 0.2], [0.4, 0.3]], np.float32)


def test_decoding_a_hand_built_grid_returns_its_boxes():
    raw = raw_for_boxes([(0.3, 0.4, 0.2, 0.1, 2, 0), (0.8, 0.15, 0.3, 0.2, 0, 1)], ANCHORS, grid=4, num_classes=3)
    boxes, scores = decode(raw, ANCHORS)
    assert boxes.shape == (4 * 4 * 2, 4) and scores.shape == (32, 3)
    out = detect(raw, ANCHORS, score_threshold=0.5)
    np.testing.assert_allclose(out.boxes, [[0.2, 0.35, 0.4, 0.45], [0.65, 0.05, 0.95, 0.25]], atol=1e-4)
    np.testing.assert_array_equal(out.classes, [2, 0])
    assert np.all(out.scores > 0.99)


def test_models_exported_before_the_yolov5_coding_still_decode():
    raw = np.ones((2, 2, 1, 6), np.float32)  # tx = ty = tw = th = 1; cell (0, 0), anchor 0.2 x 0.2
    s = 1 / (1 + np.exp(-1.0))
    old, _ = decode(raw, ANCHORS[:1], box_coding="yolov2")
    new, _ = decode(raw, ANCHORS[:1])
    c_old, w_old = s / 2, 0.2 * np.e  # centre (0 + sigmoid) / S, size anchor * exp
    c_new, w_new = (2 * s - 0.5) / 2, 0.2 * (2 * s) ** 2  # centre (0 + 2 sigmoid - 0.5) / S, anchor * (2 sigmoid)^2
    np.testing.assert_allclose(old[0], np.clip([c_old - w_old / 2] * 2 + [c_old + w_old / 2] * 2, 0, 1), atol=1e-6)
    np.testing.assert_allclose(new[0], np.clip([c_new - w_new / 2] * 2 + [c_new + w_new / 2] * 2, 0, 1), atol=1e-6)


def test_nms_drops_overlapping_duplicates_and_keeps_separate_objects():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.11, 0.1, 0.31, 0.3], [0.6, 0.6, 0.9, 0.9], [0.12, 0.12, 0.3, 0.3]])
    keep = nms(boxes, np.array([0.9, 0.8, 0.7, 0.95]), iou_threshold=0.5)
    np.testing.assert_array_equal(keep, [3, 2])


def test_nms_is_class_aware():
    # Two overlapping boxes of different classes both survive; a same-class duplicate does not.
    raw = raw_for_boxes([(0.3, 0.3, 0.2, 0.2, 0, 0), (0.31, 0.3, 0.2, 0.2, 1, 1)], ANCHORS, grid=4, num_classes=2)
    raw[1, 1, 1, 2:4] = wh_logit(0.2, ANCHORS[1])
    assert sorted(detect(raw, ANCHORS).classes.tolist()) == [0, 1]
    raw[1, 1, 1, 5:] = raw[1, 1, 0, 5:]  # now both say class 0
    assert detect(raw, ANCHORS).classes.tolist() == [0]


def test_edge_post_processing_imports_no_tensorflow():
    code = "import sys, edgeflow.edge.detection; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
