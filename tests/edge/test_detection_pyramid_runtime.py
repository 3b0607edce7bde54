"""A feature-pyramid YOLO on the device runtime: the two-scale graph converts to full int8 with every
operation on the Edge TPU list, each scale's grid agrees with Keras, and ``edgeflow-edge predict``
decodes both scales (told apart by size) into the same boxes as NumPy ``detect`` on the grids."""
import json

import numpy as np
import pytest
from PIL import Image

from edgeflow.edge.detection import detect
from edgeflow.edge.detector import scale_grids
from edgeflow.edge.edgetpu import check_edgetpu
from edgeflow.edge.runtime import EdgeModel, EdgeRuntimeError, read_image
from tests.edge.tflite_helpers import convert, run_edge_cli, write_info

LABELS = ["zero", "one", "two"]
ANCHORS = [[[0.1, 0.1], [0.2, 0.15]], [[0.3, 0.3], [0.5, 0.4]]]  # (L, A, 2), finest first
GRIDS = [8, 4]  # a 32x32 input, three stride-2 blocks, heads at strides 4 and 8
SPEC = {"anchors": ANCHORS, "grid": 4, "grids": GRIDS, "score_threshold": 0.25, "iou_threshold": 0.45,
        "max_detections": 20, "box_coding": "yolov5"}


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory):
    """(the two-scale Keras model, its int8 .tflite with model info, a 48x40 PNG)."""
    import tensorflow as tf

    from edgeflow.models.detection.model import build_yolo

    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("pyramid")
    yolo = build_yolo((32, 32, 1), num_classes=3, num_anchors=2, blocks=3, filters=8, scales=2)
    calibration = np.random.default_rng(0).random((8, 32, 32, 1)).astype(np.float32)
    one = tf.keras.Input((32, 32, 1), batch_size=1, name="image")  # batch 1, as EdgeExport converts it
    path = convert(tf.keras.Model(one, yolo(one)), folder / "fpn_int8.tflite", representative=calibration)
    write_info(path, "detection", "beside", labels=LABELS, detection=SPEC)
    photo = folder / "scene.png"
    Image.fromarray((np.random.default_rng(1).random((40, 48)) * 255).astype(np.uint8), mode="L").save(photo)
    return yolo, path, photo


def test_int8_pyramid_is_edge_tpu_ready_and_each_scale_matches_keras(pyramid):
    yolo, path, photo = pyramid
    report = check_edgetpu(path, compile_with=None)
    assert report.compatible, report.summary()
    assert {"RESIZE_NEAREST_NEIGHBOR", "CONCATENATION"} <= set(report.ops)
    model = EdgeModel(path)
    pixels, _ = read_image(photo, (32, 32), 1)
    outputs = model.run_outputs(pixels[None])
    grids = scale_grids([o[0] for o in outputs], GRIDS, 2, len(LABELS))
    keras = [k.numpy()[0] for k in yolo(pixels[None])]
    for grid, expected, detail in zip(grids, keras, sorted(model.outputs, key=lambda o: -int(np.prod(o["shape"])))):
        assert grid.shape == expected.shape
        assert np.abs(grid - expected).max() < 4 * detail["quantization"][0]  # a few quantization steps


def test_cli_decodes_every_scale_as_numpy_detect_does(pyramid):
    _, path, photo = pyramid
    pixels, _ = read_image(photo, (32, 32), 1)
    grids = scale_grids([o[0] for o in EdgeModel(path).run_outputs(pixels[None])], GRIDS, 2, len(LABELS))
    expected = detect(grids, np.array(ANCHORS), score_threshold=0.0)
    out = run_edge_cli("predict", str(path), str(photo), "--json", "--score-threshold", "0")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["detections"]
    assert len(got) == len(expected.scores) > 0
    assert [d["label"] for d in got] == [LABELS[c] for c in expected.classes]
    np.testing.assert_allclose([d["score"] for d in got], expected.scores, rtol=1e-5)
    np.testing.assert_allclose([d["box"] for d in got], expected.boxes * [48, 40, 48, 40], atol=0.06)
    # Boxes come from both scales: the fine grid's anchors are smaller than the coarse grid's.
    assert len({round(float(b[2] - b[0]), 3) for b in expected.boxes}) > 1


def test_outputs_that_do_not_fit_the_info_are_one_sentence(pyramid):
    with pytest.raises(EdgeRuntimeError, match="do not belong together"):
        scale_grids([np.zeros(8 * 8 * 2 * 8)], GRIDS, 2, 3)
    with pytest.raises(EdgeRuntimeError, match="do not belong together"):
        scale_grids([np.zeros(8 * 8 * 2 * 8), np.zeros(100)], GRIDS, 2, 3)
    with pytest.raises(EdgeRuntimeError, match="run_outputs takes one input"):
        EdgeModel(pyramid[1]).run_outputs(np.zeros((2, 32, 32, 1), np.float32))
