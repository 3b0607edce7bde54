"""Detection on the device runtime: image files in, boxes in the original image's pixels out.

Two real .tflite files: the YOLO graph of ``models/detection/model.py`` converted to full int8 (its grid agrees
with Keras within 4 output quantization steps), and a float32 model whose flattened output is a planted
grid that decodes to two known boxes, so the CLI's pixels can be checked exactly.
"""
import json

import numpy as np
import pytest
from PIL import Image

from edgeflow.edge.detection import detect
from edgeflow.edge.detector import detect_images, raw_grid
from edgeflow.edge.runtime import EdgeModel, EdgeRuntimeError, read_image
from tests.edge.tflite_helpers import convert, run_edge_cli, write_info
from tests.models.detection.yolo_helpers import raw_for_boxes

LABELS = ["zero", "one", "two"]
ANCHORS = [[0.2, 0.2], [0.4, 0.4]]
GRID = 8  # a 32x32 input, two stride-2 blocks
PLANTED = [(0.3, 0.4, 0.2, 0.3, 1, 0), (0.7, 0.7, 0.25, 0.25, 2, 1)]  # cx, cy, w, h, class, anchor
SPEC = {"anchors": ANCHORS, "grid": GRID, "score_threshold": 0.25, "iou_threshold": 0.45, "max_detections": 20,
        "box_coding": "yolov5"}


@pytest.fixture(scope="module")
def detectors(tmp_path_factory):
    """(YOLO Keras model, its int8 .tflite, the planted float32 .tflite), each with model info."""
    import tensorflow as tf

    from edgeflow.models.detection.model import build_yolo

    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("detect")
    yolo = build_yolo((32, 32, 1), num_classes=3, num_anchors=2, blocks=2, filters=8)
    calibration = np.random.default_rng(0).random((8, 32, 32, 1)).astype(np.float32)
    yolo_int8 = convert(yolo, folder / "yolo_int8.tflite", representative=calibration)
    write_info(yolo_int8, "detection", "embedded", labels=LABELS, detection=SPEC)
    planted = raw_for_boxes(PLANTED, ANCHORS, GRID, len(LABELS)).reshape(-1)  # (S*S*A*(5+C),)
    inputs = tf.keras.Input((32, 32, 1))
    x = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = tf.keras.layers.Dense(planted.size, kernel_initializer="zeros",
                                    bias_initializer=tf.keras.initializers.Constant(planted))(x)  # (B, S*S*A*(5+C))
    fixed = convert(tf.keras.Model(inputs, outputs), folder / "planted.tflite")
    write_info(fixed, "detection", "beside", labels=LABELS, detection=SPEC)
    return yolo, yolo_int8, fixed


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 64x48 (W x H) grayscale PNG: a larger image than the model's 32x32 input, not square."""
    path = tmp_path_factory.mktemp("img") / "scene.png"
    pixels = (np.random.default_rng(1).random((48, 64)) * 255).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(path)
    return path


def test_cli_boxes_are_the_planted_ones_in_original_pixels(detectors, photo):
    _, _, planted = detectors
    out = run_edge_cli("predict", str(planted), str(photo), "--json")
    assert out.returncode == 0, out.stderr
    assert "XNNPACK" not in out.stderr
    (image,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert (image["source"], image["width"], image["height"]) == (str(photo), 64, 48)
    found = {d["label"]: d for d in image["detections"]}
    assert sorted(found) == ["one", "two"] and all(d["score"] > 0.99 for d in found.values())
    np.testing.assert_allclose(found["one"]["box"], [12.8, 12.0, 25.6, 26.4], atol=0.11)  # x0, y0, x1, y1 px
    np.testing.assert_allclose(found["two"]["box"], [36.8, 27.6, 52.8, 39.6], atol=0.11)
    text = run_edge_cli("predict", str(planted), str(photo))
    assert text.returncode == 0 and text.stdout.splitlines()[0].split("\t")[1] in ("one", "two")


def test_int8_yolo_grid_matches_keras_and_the_cli_decodes_it(detectors, photo):
    yolo, yolo_int8, _ = detectors
    model = EdgeModel(yolo_int8)
    pixels, _ = read_image(photo, (32, 32), 1)
    grid = model.run(pixels[None])[0]  # (S, S, A, 5 + C)
    assert np.abs(grid - yolo(pixels[None]).numpy()[0]).max() < 4 * model.output["quantization"][0]
    expected = detect(grid, np.array(ANCHORS), score_threshold=0.0)
    out = run_edge_cli("predict", str(yolo_int8), str(photo), "--json", "--score-threshold", "0")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["detections"]
    assert len(got) == len(expected.scores) > 0
    assert [d["label"] for d in got] == [LABELS[c] for c in expected.classes]
    np.testing.assert_allclose([d["score"] for d in got], expected.scores, rtol=1e-5)
    np.testing.assert_allclose([d["box"] for d in got], expected.boxes * [64, 48, 64, 48], atol=0.06)


def test_wrong_info_and_wrong_input_are_one_sentence(detectors, tmp_path):
    _, yolo_int8, planted = detectors
    with pytest.raises(EdgeRuntimeError, match="do not belong together"):
        raw_grid(np.zeros(100, np.float32), GRID, 2, 3)
    np.testing.assert_array_equal(raw_grid(np.arange(1024.0), GRID, 2, 3).reshape(-1), np.arange(1024.0))
    with pytest.raises(EdgeRuntimeError, match=r"expects \(N, 32, 32, 1\)"):
        EdgeModel(yolo_int8).run(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(EdgeRuntimeError, match="dtype int64"):
        EdgeModel(yolo_int8).run(np.zeros((1, 32, 32, 1), np.int64))
    info = json.loads(planted.with_suffix(".json").read_text())
    del info["detection"]
    copy = tmp_path / "noinfo.tflite"
    copy.write_bytes(planted.read_bytes())
    copy.with_suffix(".json").write_text(json.dumps(info))
    with pytest.raises(EdgeRuntimeError, match="no detection block"):
        detect_images(EdgeModel(copy), ["x.png"])
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    out = run_edge_cli("predict", str(planted), str(not_an_image))
    assert out.returncode == 1 and out.stderr.strip().endswith("is not a readable image; give a PNG or JPEG file")
