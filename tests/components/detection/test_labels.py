"""Label parsing of YOLO text and COCO JSON, each kind of invalid label, and the bad-share limit."""
import json

import pytest

from edgeflow.components.detection import labels as dl
from edgeflow.components.image.folder import DataError
from edgeflow.config import DetectionConfig
from edgeflow.pipelines.bundled.canvases import write_digit_detection_set

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010800000000"
                    "3a7e9b550000000a49444154789c6360000000020001e221bc330000000049454e44ae426082")


def test_yolo_line_parsing_names_each_invalid_kind():
    text = ("0 0.5 0.5 0.2 0.4\n"
            "1 1.2 0.5 0.1 0.1\n"   # centre outside [0, 1]
            "1 0.5 0.5 0 0.1\n"     # zero width
            "7 0.5 0.5 0.1 0.1\n"   # class 7 of 3
            "0 0.5 0.5\n"           # too few numbers
            "0 0.95 0.5 0.2 0.2\n"  # right edge past the border
            "\n")
    classes, boxes, problems = dl.parse_yolo_label(text, num_classes=3)
    assert classes == [0] and boxes == [(0.5, 0.5, 0.2, 0.4)]
    assert [kind for kind, _ in problems] == [dl.OUT_OF_RANGE, dl.ZERO_AREA, dl.UNKNOWN_CLASS,
                                              dl.MALFORMED, dl.OUT_OF_RANGE]
    assert "line 4" in problems[2][1]


def _yolo_folder(root, labels: dict, images: list):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("cat\ndog\n")
    for stem in images:
        (root / "images" / f"{stem}.png").write_bytes(PNG)
    for stem, text in labels.items():
        (root / "labels" / f"{stem}.txt").write_text(text)
    return root


def test_yolo_folder_report_counts_and_names_bad_files(tmp_path):
    root = _yolo_folder(tmp_path / "set", {"a": "0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n", "b": "", "c": "5 0.5 0.5 0.1 0.1\n",
                                           "orphan": "0 0.5 0.5 0.1 0.1\n"}, ["a", "b", "c", "nolabel"])
    scan = dl.scan_detection_folder(root, max_bad_fraction=0.9)
    assert scan.format == "yolo" and scan.class_names == ("cat", "dog")
    assert {i.image: i.classes for i in scan.images} == {"images/a.png": (0, 1), "images/b.png": ()}
    report = scan.report()
    assert report["problems_by_kind"] == {dl.LABEL_WITHOUT_IMAGE: 1, dl.IMAGE_WITHOUT_LABEL: 1, dl.UNKNOWN_CLASS: 1}
    assert report["bad_files"] == 3 and report["bad_fraction"] == pytest.approx(3 / 5)
    assert {p["file"] for p in report["problems"]} == {"labels/orphan.txt", "images/nolabel.png", "labels/c.txt"}


def test_too_many_bad_files_stop_the_run_with_one_sentence(tmp_path):
    root = _yolo_folder(tmp_path / "set", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "0 0.5 0.5 0 0\n"}, ["a", "b"])
    with pytest.raises(DataError, match=r"1 of 2 files .* invalid labels \(50% > data.max_bad_fraction=5%.*zero_area"):
        dl.scan_detection_folder(root, max_bad_fraction=0.05)
    assert len(dl.scan_detection_folder(root, max_bad_fraction=0.5).images) == 1


def test_missing_classes_file_and_unknown_layout_are_explained(tmp_path):
    (tmp_path / "labels").mkdir()
    with pytest.raises(DataError, match="classes.txt is missing or empty; write one class name per line"):
        dl.scan_detection_folder(tmp_path)
    with pytest.raises(DataError, match="neither a YOLO folder"):
        dl.scan_detection_folder(tmp_path / "labels")


def _coco_doc():
    return {
        "categories": [{"id": 3, "name": "dog"}, {"id": 1, "name": "cat"}],
        "images": [{"id": 10, "file_name": "a.png", "width": 100, "height": 50},
                   {"id": 11, "file_name": "b.png", "width": 100, "height": 50},
                   {"id": 12, "file_name": "c.png", "width": 100, "height": 50},
                   {"id": 13, "file_name": "d.png", "width": 100, "height": 50},
                   {"id": 14, "file_name": "gone.png", "width": 100, "height": 50},
                   {"id": 15, "file_name": "empty.png", "width": 100, "height": 50}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 3, "bbox": [10, 5, 20, 10]},
            {"id": 2, "image_id": 10, "category_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 1},
            {"id": 3, "image_id": 11, "category_id": 1, "bbox": [90, 0, 20, 10]},   # past the right border
            {"id": 4, "image_id": 12, "category_id": 1, "bbox": [10, 10, 0, 10]},   # zero area
            {"id": 5, "image_id": 13, "category_id": 99, "bbox": [10, 10, 5, 5]},   # unknown category
            {"id": 6, "image_id": 77, "category_id": 1, "bbox": [10, 10, 5, 5]},    # unknown image
        ]}


def test_coco_parsing_normalizes_boxes_and_names_each_invalid_kind():
    names, good, problems = dl.parse_coco(_coco_doc(), ["a.png", "b.png", "c.png", "d.png", "empty.png", "extra.png"])
    assert names == ("cat", "dog")  # category ids in order: 1 -> 0, 3 -> 1
    assert good[0] == dl.LabelledImage("images/a.png", (1,), ((0.2, 0.2, 0.2, 0.2),))
    assert good[1] == dl.LabelledImage("images/empty.png", (), ())
    kinds = {p.file: p.kind for p in problems}
    assert kinds == {"images/b.png": dl.OUT_OF_RANGE, "images/c.png": dl.ZERO_AREA, "images/d.png": dl.UNKNOWN_CLASS,
                     "annotation 6": dl.LABEL_WITHOUT_IMAGE, "images/gone.png": dl.LABEL_WITHOUT_IMAGE,
                     "images/extra.png": dl.IMAGE_WITHOUT_LABEL}


def test_coco_folder_is_recognized_and_bad_json_explained(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("a.png", "empty.png"):
        (tmp_path / "images" / name).write_bytes(PNG)
    doc = _coco_doc()
    doc["images"] = [im for im in doc["images"] if im["file_name"] in ("a.png", "empty.png")]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] == 10]
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    scan = dl.scan_detection_folder(tmp_path, max_bad_fraction=0.5)
    assert scan.format == "coco" and [i.image for i in scan.images] == ["images/a.png", "images/empty.png"]
    (tmp_path / "annotations.json").write_text("{not json")
    with pytest.raises(DataError, match="annotations.json is not valid JSON"):
        dl.scan_detection_folder(tmp_path)


def test_generated_digit_set_is_deterministic_and_reads_clean(tmp_path):
    cfg = DetectionConfig(num_images=12, image_size=48, max_objects=3, min_object_px=10, max_object_px=20)
    a = write_digit_detection_set(tmp_path / "a", cfg)
    b = write_digit_detection_set(tmp_path / "b", cfg)
    for rel in ("labels/00005.txt", "images/00005.png"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    scan = dl.scan_detection_folder(a, max_bad_fraction=0.0)
    assert len(scan.images) == 12 and not scan.problems and scan.class_names == tuple("0123456789")
    sizes = [w * 48 for item in scan.images for _, _, w, _ in item.boxes]
    assert all(1 <= len(item.boxes) <= 3 for item in scan.images) and max(sizes) - min(sizes) > 3
