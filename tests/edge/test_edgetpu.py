"""The Edge TPU report, read from the .tflite file itself."""
import numpy as np
import pytest

from edgeflow.edge.edgetpu import check_edgetpu
from edgeflow.edge.model_file import ModelFileError


def _int8_cnn(tmp_path, activation: str):
    """A tiny untrained CNN converted to full int8 in this process."""
    from edgeflow.components.edge_export.variants import to_tflite
    from edgeflow.models.image.model import build_cnn
    from edgeflow.config import ModelConfig

    model = build_cnn((8, 8, 1), 3, ModelConfig(blocks=1, filters=4, activation=activation))
    rep = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    path = tmp_path / f"{activation}.tflite"
    path.write_bytes(to_tflite(model, "int8", rep))
    return path


def test_fully_int8_cnn_passes(variant_files):
    report = check_edgetpu(variant_files["int8"])
    assert report.compatible and report.cut_at is None
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(report.ops)


def test_leaky_relu_is_flagged_with_the_cut(tmp_path):
    report = check_edgetpu(_int8_cnn(tmp_path, "leaky_relu"))
    assert not report.compatible
    first = report.problems[0]
    assert first.op == "LEAKY_RELU" and "supported-operations" in first.reason
    assert report.cut_at == first.index and report.tpu_ops == first.index
    assert "LEAKY_RELU" in report.summary() and "rest runs on the CPU" in report.summary()


def test_float_model_is_flagged_for_its_tensor_types(variant_files):
    report = check_edgetpu(variant_files["float32"])
    assert not report.compatible and "FLOAT32" in report.problems[0].reason


def test_dynamic_batch_is_flagged(tmp_path):
    import tensorflow as tf

    from edgeflow.models.image.model import build_cnn
    from edgeflow.config import ModelConfig

    model = build_cnn((8, 8, 1), 3, ModelConfig(blocks=1, filters=4))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)  # keeps the (None, 8, 8, 1) input
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.ones((1, 8, 8, 1), np.float32)] for _ in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(converter.convert())
    report = check_edgetpu(path)
    assert any("dynamic shape" in p.reason for p in report.problems)


def test_compiler_absence_is_said_plainly(variant_files, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    report = check_edgetpu(variant_files["int8"])
    assert report.compiler is not None and not report.compiler.available
    assert "edgetpu_compiler is not on PATH" in report.summary()


def test_not_a_model_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(ModelFileError, match="not a TFLite model"):
        check_edgetpu(bad)


def test_compiler_absence_is_one_sentence_with_the_command(variant_files, monkeypatch):
    from edgeflow.edge.edgetpu import run_compiler

    monkeypatch.setenv("PATH", "/nonexistent")
    result = run_compiler(variant_files["int8"])
    assert not result.available and result.output is None
    assert result.command == "edgetpu_compiler -s -o . int8.tflite"
    assert f"run `{result.command}`" in result.message and "int8_edgetpu.tflite" in result.message
    prose = result.message.replace(result.command, "")
    assert ". " not in prose and "\n" not in prose  # one sentence


def test_edgetpu_target_ships_a_uint8_full_integer_file(digits, digits_keras, tmp_path, monkeypatch):
    """export.target=edgetpu: the shipped file takes the configured integer type, every op maps,
    and without the compiler the report says what to run elsewhere."""
    from edgeflow.components.edge_export.data import EdgeData
    from edgeflow.components.edge_export.export import export_edge_models
    from edgeflow.components.edge_export.tasks import classification_task
    from edgeflow.config import ExportConfig
    from edgeflow.edge.runtime import EdgeModel

    monkeypatch.setenv("PATH", "/nonexistent")
    x, y, x_eval, y_eval = digits
    data = EdgeData(classification_task([str(i) for i in range(10)], "pixels / 16"), x[:200], y[:200], x_eval,
                    y_eval, {"kind": "sparse_categorical_crossentropy"})
    cfg = ExportConfig(variants="int8", target="edgetpu", edgetpu_input_type="uint8", representative_samples=100,
                       latency_budget_s=0.05, latency_runs=10)
    report = export_edge_models(digits_keras, data, cfg, tmp_path, seed=0)
    assert report["shipped"] == "int8"
    shipped = EdgeModel(tmp_path / "model.tflite", use_edgetpu=False)
    assert shipped.input["dtype"] == np.uint8 and shipped.output["dtype"] == np.uint8
    assert check_edgetpu(tmp_path / "model.tflite", compile_with=None).compatible
    assert (shipped.run(x_eval).argmax(-1) == y_eval).mean() >= 0.9  # uint8 in/out still classifies
    tpu = report["edgetpu"]
    assert tpu["input_type"] == "uint8" and tpu["compiled"] is None and not tpu["compiler_available"]
    assert tpu["command"] == "edgetpu_compiler -s -o . model.tflite" and f"run `{tpu['command']}`" in tpu["message"]
    assert not (tmp_path / "model_edgetpu.tflite").exists()


def test_int8_input_type_is_kept_when_asked(tmp_path):
    from edgeflow.components.edge_export.variants import to_tflite
    from edgeflow.config import ModelConfig
    from edgeflow.edge.runtime import EdgeModel
    from edgeflow.models.image.model import build_cnn

    model = build_cnn((8, 8, 1), 3, ModelConfig(blocks=1, filters=4))
    rep = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    for io in ("int8", "uint8"):
        path = tmp_path / f"{io}.tflite"
        path.write_bytes(to_tflite(model, "int8", rep, integer_io=io))
        assert EdgeModel(path, use_edgetpu=False).input["dtype"] == np.dtype(io)
        assert check_edgetpu(path, compile_with=None).compatible
