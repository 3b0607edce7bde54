"""The device runtime: no TensorFlow, clear errors, the model's info travels inside the file."""
import json
import subprocess
import sys

import numpy as np
import pytest

from edgeflow.edge.model_file import embed_metadata, read_metadata
from edgeflow.edge.runtime import EdgeModel, EdgeRuntimeError

LABELS = [f"digit-{i}" for i in range(10)]


@pytest.fixture(scope="module")
def shipped(variant_files, tmp_path_factory):
    """The int8 variant as EdgeExport writes it: info embedded and beside it; plus one digit PNG."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from edgeflow.components.edge_export.export import write_variant
    from edgeflow.components.edge_export.tasks import classification_task, image_preprocessing

    folder = tmp_path_factory.mktemp("device")
    model = folder / "model.tflite"
    model.write_bytes(variant_files["int8"].read_bytes())
    write_variant(model, "int8", classification_task(LABELS, image_preprocessing(8, 8, 1)))
    d = load_digits()
    index = int(np.flatnonzero(d.target == 3)[-1])  # from the eval part (index >= 1400)
    image = folder / "three.png"
    Image.fromarray(np.clip(d.images[index] * 16, 0, 255).astype(np.uint8), mode="L").save(image)
    return model, image


def test_predict_in_a_process_without_tensorflow(shipped):
    model, image = shipped
    code = ("import sys, json\n"
            "from edgeflow.edge.cli import main\n"
            f"rc = main(['predict', {str(model)!r}, {str(image)!r}, '--json'])\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
            "sys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["label"] == "digit-3" and result["score"] > 0.5


def test_info_is_embedded_in_the_tflite(shipped):
    model, _ = shipped
    info = read_metadata(model.read_bytes())
    assert info["labels"] == LABELS and info["input"]["dtype"] == "int8"
    assert info == json.loads(model.with_suffix(".json").read_text())
    assert EdgeModel(model).run(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)


def test_embedding_keeps_the_model_identical_in_behaviour(variant_files):
    x = np.random.default_rng(1).random((4, 8, 8, 1), dtype=np.float32)
    data = variant_files["int8"].read_bytes()
    before = EdgeModel(variant_files["int8"]).run(x)
    copy = variant_files["int8"].parent / "embedded.tflite"
    copy.write_bytes(embed_metadata(data, {"labels": ["a"]}))
    np.testing.assert_array_equal(EdgeModel(copy).run(x), before)


def test_truncated_model_is_one_sentence(shipped, tmp_path):
    model, _ = shipped
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(model.read_bytes()[:200])
    with pytest.raises(EdgeRuntimeError, match="cannot be loaded"):
        EdgeModel(cut)


def test_wrong_input_shape_and_dtype_are_named(shipped):
    m = EdgeModel(shipped[0])
    with pytest.raises(EdgeRuntimeError, match=r"expects \(N, 8, 8, 1\)"):
        m.run(np.zeros((1, 16, 16, 1), np.float32))
    with pytest.raises(EdgeRuntimeError, match="dtype int64"):
        m.run(np.zeros((1, 8, 8, 1), np.int64))


def test_cli_reports_a_missing_model(tmp_path, capsys):
    from edgeflow.edge.cli import main

    assert main(["predict", str(tmp_path / "none.tflite"), "x.png"]) == 1
    assert "edgeflow-edge: error: no model file" in capsys.readouterr().err


def test_runtime_notices_are_dropped_but_errors_still_reach_stderr(capfd):
    import os

    from edgeflow.edge.runtime import runtime_notices_dropped

    with runtime_notices_dropped():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nERROR: the delegate failed\n")
    err = capfd.readouterr().err
    assert "ERROR: the delegate failed" in err and "XNNPACK" not in err

