"""DetectionExampleGen's Beam transform on a real (DirectRunner) pipeline, from COCO and YOLO folders."""
import io
import json

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.testing.util import assert_that

from edgeflow.components.detection.example_gen import _DetectionFolderToExample


def _png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((20, 40), value, np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def test_coco_folder_becomes_examples_with_box_lists_and_unreadable_images_are_skipped(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(_png(10))
    (tmp_path / "images" / "b.png").write_bytes(_png(20))
    (tmp_path / "images" / "broken.png").write_bytes(_png(30)[:40])  # truncated
    images = [{"id": i, "file_name": f, "width": 40, "height": 20} for i, f in enumerate(["a.png", "b.png", "broken.png"])]
    doc = {"categories": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}], "images": images,
           "annotations": [{"id": 1, "image_id": 0, "category_id": 2, "bbox": [4, 2, 8, 10]},
                           {"id": 2, "image_id": 0, "category_id": 1, "bbox": [20, 10, 20, 10]},
                           {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 4, 4]}]}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))

    def check(examples):
        by_path = {e.features.feature["image_path"].bytes_list.value[0].decode(): e.features.feature for e in examples}
        assert sorted(by_path) == ["images/a.png", "images/b.png"]
        a = by_path["images/a.png"]
        assert list(a["bbox/class"].int64_list.value) == [1, 0]
        np.testing.assert_allclose(a["bbox/cx"].float_list.value, [0.2, 0.75])
        np.testing.assert_allclose(a["bbox/h"].float_list.value, [0.5, 0.5])
        assert tf.io.decode_png(a["image_raw"].bytes_list.value[0]).shape == (20, 40, 1)
        assert len(by_path["images/b.png"]["bbox/class"].int64_list.value) == 0  # listed, no objects

    with beam.Pipeline() as p:
        examples = p | _DetectionFolderToExample({"input_base": str(tmp_path)}, "images/*")
        assert_that(examples, check)


def test_yolo_labels_are_parsed_inside_beam_and_a_bad_label_file_is_counted_and_skipped(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("one\ntwo\n")
    for name, value in [("a", 10), ("b", 20), ("bad", 30)]:
        (tmp_path / "images" / f"{name}.png").write_bytes(_png(value))
    (tmp_path / "labels" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n0 0.25 0.25 0.1 0.1\n")
    (tmp_path / "labels" / "b.txt").write_text("")  # no objects
    (tmp_path / "labels" / "bad.txt").write_text("7 0.5 0.5 0.2 0.2\n")  # class 7 of 2

    def check(examples):
        by_path = {e.features.feature["image_path"].bytes_list.value[0].decode(): e.features.feature for e in examples}
        assert sorted(by_path) == ["images/a.png", "images/b.png"]
        assert list(by_path["images/a.png"]["bbox/class"].int64_list.value) == [1, 0]
        np.testing.assert_allclose(by_path["images/a.png"]["bbox/w"].float_list.value, [0.2, 0.1])
        assert len(by_path["images/b.png"]["bbox/class"].int64_list.value) == 0

    p = beam.Pipeline()
    examples = p | _DetectionFolderToExample({"input_base": str(tmp_path)}, "images/*")
    assert_that(examples, check)
    result = p.run()
    result.wait_until_finish()
    skipped = result.metrics().query(beam.metrics.MetricsFilter().with_name("detection_images_skipped"))["counters"]
    assert sum(c.committed for c in skipped) == 1  # the bad label file, parsed in the DoFn
