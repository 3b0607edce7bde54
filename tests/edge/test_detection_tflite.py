"""The YOLO graph converts to a full-int8 .tflite (no NMS inside) whose raw grid matches Keras.

The conversion runs in a child process, as the guide advises (a converter crash stays contained).
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from edgeflow.edge.detection import detect

CONVERT = textwrap.dedent("""
    import sys, numpy as np, edgeflow, tensorflow as tf
    from edgeflow.models.detection.model import build_yolo
    out = sys.argv[1]
    tf.keras.utils.set_random_seed(0)
    model = build_yolo((32, 32, 1), num_classes=3, num_anchors=2, blocks=2, filters=8)
    x = np.random.default_rng(0).random((8, 32, 32, 1)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[i:i + 1]] for i in range(8))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    open(out + "/yolo.tflite", "wb").write(conv.convert())
    np.save(out + "/x.npy", x[:1]); np.save(out + "/keras.npy", model(x[:1]).numpy())
""")


@pytest.mark.slow
def test_int8_tflite_grid_matches_keras_and_post_processes_in_numpy(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    subprocess.run([sys.executable, "-c", CONVERT, str(tmp_path)], check=True, capture_output=True)
    interpreter = Interpreter(model_path=str(tmp_path / "yolo.tflite"))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    ops = {d["op_name"] for d in interpreter._get_ops_details()}
    assert "NON_MAX_SUPPRESSION_V5" not in ops and not any("NMS" in op for op in ops)
    x, expected = np.load(tmp_path / "x.npy"), np.load(tmp_path / "keras.npy")
    scale, zero = inp["quantization"]
    interpreter.set_tensor(inp["index"], np.round(x / scale + zero).astype(np.int8))
    interpreter.invoke()
    o_scale, o_zero = out["quantization"]
    grid = (interpreter.get_tensor(out["index"]).astype(np.float32) - o_zero) * o_scale
    assert grid.shape == expected.shape == (1, 8, 8, 2, 8)
    assert np.abs(grid - expected).max() < 4 * o_scale  # a few quantization steps
    anchors = np.array([[0.2, 0.2], [0.4, 0.4]])
    found = detect(grid[0], anchors, score_threshold=0.001, max_detections=5)
    assert len(found.scores) == 5 and np.all((found.boxes >= 0) & (found.boxes <= 1))
