"""Standard TFLite metadata in the files EdgeExport writes, read back by the standard reader
(tflite-support's ``MetadataDisplayer``) in a clean venv without TensorFlow, and by edgeflow's own reader."""
import json
import subprocess
import time
import venv

import numpy as np
import pytest

from edgeflow.edge.model_file import read_buffer, read_metadata
from edgeflow.edge.runtime import EdgeModel
from edgeflow.edge.tflite_metadata import STANDARD_METADATA_NAME, embed_model_info, packed_files
from tests.edge.test_device_install import OFFLINE
from tests.edge.tflite_helpers import convert

READER = "tflite-support==0.4.4"
WINDOW_LABELS = ["calm", "storm"]


@pytest.fixture(scope="module")
def window_classifier(tmp_path_factory):
    """A sequence classifier's int8 file as EdgeExport writes it: raw windows (1, 4, 2) -> 2 classes."""
    import tensorflow as tf

    from edgeflow.components.edge_export.export import write_variant
    from edgeflow.components.edge_export.tasks import classification_task

    inputs = tf.keras.Input((4, 2))
    outputs = tf.keras.layers.Dense(2, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    path = convert(tf.keras.Model(inputs, outputs), tmp_path_factory.mktemp("window") / "int8.tflite",
                   representative=np.random.default_rng(0).random((16, 4, 2)).astype(np.float32))
    before = EdgeModel(path, use_edgetpu=False).run(np.ones((1, 4, 2), np.float32))
    info = write_variant(path, "int8", classification_task(WINDOW_LABELS, "4 rows of the raw columns a, b"))
    return path, info, before


def test_standard_metadata_sits_beside_the_edgeflow_info(window_classifier):
    path, info, before = window_classifier
    data = path.read_bytes()
    assert read_metadata(data) == info  # edgeflow's own entry is kept
    standard = read_buffer(data, STANDARD_METADATA_NAME)
    assert standard is not None and standard[4:8] == b"M001"  # metadata_schema.fbs's file identifier
    assert packed_files(data) == {"labels.txt": b"calm\nstorm\n"}
    np.testing.assert_array_equal(EdgeModel(path, use_edgetpu=False).run(np.ones((1, 4, 2), np.float32)), before)


def test_embedding_again_replaces_instead_of_stacking(window_classifier):
    path, info, _ = window_classifier
    data = path.read_bytes()
    time.sleep(1.1)  # a second later: zip entries carry a fixed date
    assert embed_model_info(data, info) == data  # same info, same bytes: old buffers are reused, not orphaned
    again = embed_model_info(data, {**info, "labels": ["a", "b"]})
    assert packed_files(again) == {"labels.txt": b"a\nb\n"}
    assert read_metadata(again)["labels"] == ["a", "b"]


def test_a_forecaster_has_no_labels_file(window_classifier):
    path, info, _ = window_classifier
    forecast = {k: v for k, v in info.items() if k != "labels"}
    data = embed_model_info(path.read_bytes(), {**forecast, "task": "forecast"})
    assert read_buffer(data, STANDARD_METADATA_NAME) is not None and packed_files(data) == {}


READ = """
import json, sys
from tflite_support import metadata
out = {}
for path in sys.argv[1:]:
    d = metadata.MetadataDisplayer.with_model_file(path)
    meta = json.loads(d.get_metadata_json())
    out[path] = {"meta": meta, "files": d.get_packed_associated_file_list(),
                 "labels": d.get_associated_file_buffer("labels.txt").decode().splitlines()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def reader_python(tmp_path_factory):
    """The Python of a clean venv holding only tflite-support (the standard metadata reader), no TensorFlow."""
    env_dir = tmp_path_factory.mktemp("reader") / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    need = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", READER,
                           "numpy==1.26.4"], capture_output=True, text=True, timeout=600)
    if need.returncode and any(s in need.stderr for s in OFFLINE):
        pytest.skip(f"pip cannot install {READER}: {need.stderr.strip().splitlines()[-1]}")
    assert need.returncode == 0, need.stderr
    absent = subprocess.run([python, "-c", "import tensorflow"], capture_output=True, text=True)
    assert "No module named 'tensorflow'" in absent.stderr
    reads = subprocess.run([python, "-c", "from tflite_support import metadata"], capture_output=True, text=True)
    if reads.returncode and "libusb-1.0" in reads.stderr:  # a system library pip cannot install
        pytest.skip("tflite-support installs but cannot import on this machine: the system library libusb-1.0 "
                    "is missing (install the OS package libusb-1.0-0 to run this test)")
    return python


@pytest.mark.slow
def test_the_standard_reader_reads_labels_and_normalization(reader_python, tiny_image_run, window_classifier):
    cfg, _ = tiny_image_run
    shipped = sorted(cfg.pipeline_root.glob("EdgeExport/edge_models/*/model.tflite"))[-1]
    window, _, _ = window_classifier
    out = subprocess.run([reader_python, "-c", READ, str(shipped), str(window)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    read = json.loads(out.stdout)

    image = read[str(shipped)]
    info = json.loads(shipped.with_suffix(".json").read_text())
    _, height, width, channels = info["input"]["shape"]
    assert image["files"] == ["labels.txt"] and image["labels"] == info["labels"]
    graph = image["meta"]["subgraph_metadata"][0]
    tensor_in, tensor_out = graph["input_tensor_metadata"][0], graph["output_tensor_metadata"][0]
    assert tensor_in["process_units"][0]["options"] == {"mean": [0.0] * channels, "std": [255.0] * channels}
    properties = tensor_in["content"]["content_properties"]
    assert properties["color_space"] == ("GRAYSCALE" if channels == 1 else "RGB")
    assert properties["default_size"] == {"width": width, "height": height}
    assert tensor_out["associated_files"] == [{"name": "labels.txt", "type": "TENSOR_AXIS_LABELS",
                                               "description": "labels of the output's last axis, one per line"}]
    assert image["meta"]["name"] == f"edgeflow classification model ({info['variant']})"

    seq = read[str(window)]
    assert seq["labels"] == WINDOW_LABELS
    tensor_in = seq["meta"]["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert tensor_in["content"]["content_properties_type"] == "FeatureProperties"
    assert tensor_in["process_units"][0]["options"] == {"mean": [0.0, 0.0], "std": [1.0, 1.0]}
