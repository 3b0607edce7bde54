import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from edgeflow.components.image.example_gen import _ImageFolderToExample, list_labelled_images
from edgeflow.components.image.folder import DataError, decode_check, scan_image_folder
from edgeflow.models.features import IMAGE_KEY, LABEL_KEY, PATH_KEY


def make_folder(root, classes=("cat", "dog"), per_class=3, corrupt=()):
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((6, 6), 40 * i, np.uint8)).save(root / c / f"{i}.png")
    for rel in corrupt:
        (root / rel).write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return root


def test_scan_lists_classes_sorted_and_skips_a_corrupt_file(tmp_path):
    root = make_folder(tmp_path / "d", per_class=10, corrupt=["dog/broken.png"])
    scan = scan_image_folder(root, max_bad_fraction=0.1)
    assert scan.classes == ("cat", "dog")
    assert len(scan.files) == 20 and scan.bad == ("dog/broken.png",)
    assert ("cat/0.png", 0) in scan.files and ("dog/9.png", 1) in scan.files


def test_too_many_corrupt_files_stop_with_their_names(tmp_path):
    root = make_folder(tmp_path / "d", per_class=2, corrupt=["dog/a.png", "dog/b.jpg"])
    with pytest.raises(DataError, match=r"2 of 6 files .* dog/a\.png, dog/b\.jpg; fix or remove them"):
        scan_image_folder(root, max_bad_fraction=0.05)


@pytest.mark.parametrize("setup, message", [
    (lambda r: None, "does not exist"),
    (lambda r: r.mkdir(), "has no class sub-folders"),
    (lambda r: (r / "only").mkdir(parents=True), "has only one class"),
    (lambda r: (make_folder(r), (r / "empty").mkdir()), r"class folder .*empty has no images"),
    (lambda r: (r.parent.mkdir(exist_ok=True), r.write_text("x")), "is a file, not a folder"),
])
def test_unusable_folders_get_one_sentence(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DataError, match=message):
        scan_image_folder(root)


def test_decode_check_accepts_png_and_jpeg_only(tmp_path):
    img = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
    for fmt in ("PNG", "JPEG", "BMP"):
        img.save(tmp_path / f"x.{fmt}", format=fmt)
    assert decode_check((tmp_path / "x.PNG").read_bytes()) is None
    assert decode_check((tmp_path / "x.JPEG").read_bytes()) is None
    assert "not PNG or JPEG" in decode_check((tmp_path / "x.BMP").read_bytes())
    assert decode_check(b"garbage") is not None


def test_beam_transform_writes_examples_and_skips_corrupt(tmp_path):
    root = make_folder(tmp_path / "d", per_class=2, corrupt=["cat/bad.png"])
    assert len(list_labelled_images(str(root), "*/*")) == 5  # listed; the DoFn drops the corrupt one

    def summary(example):
        f = example.features.feature
        return (f[PATH_KEY].bytes_list.value[0].decode(), f[LABEL_KEY].int64_list.value[0],
                tf.io.decode_png(f[IMAGE_KEY].bytes_list.value[0]).shape.as_list())

    with beam.Pipeline() as p:
        examples = p | _ImageFolderToExample({"input_base": str(root)}, "*/*")
        assert_that(examples | beam.Map(summary), equal_to([
            ("cat/0.png", 0, [6, 6, 1]), ("cat/1.png", 0, [6, 6, 1]),
            ("dog/0.png", 1, [6, 6, 1]), ("dog/1.png", 1, [6, 6, 1])]))
