"""int16x8 (16-bit activations, int8 weights) of the default forecaster's form: a Holt-Winters anchor, the
two ridge heads with their range switch, and an LSTM correcting them, wrapped to take raw windows and
return target units, converted in the child process.

Tolerance: on average within 0.1 % of the target's standard deviation of the Keras forecast, at most
1.5 % inside the train range (the int16 steps of the raw input and output are about 1e-4 of it; the
rest is the LSTM's and the ridge heads' int16 arithmetic); full-integer int8 of the same model is more than ten times further off (the target's
int8 output alone has steps of about 1 % of its range), which is why the variant exists.
"""
import numpy as np
import pytest

from edgeflow.edge.model_file import float_ops, read_model_file
from edgeflow.edge.runtime import EdgeModel

pytestmark = pytest.mark.slow

WINDOW, HORIZON, SEASON = 24, 3, 6
SETTINGS = dict(representative_samples=64, seed=0)


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    """(folder with model.keras and train.npz, wrap, raw eval windows (N, W, 1), Keras forecasts (N, H), target std).

    No trend: eval stays inside the range the train windows calibrate (outside it an integer output saturates)."""
    import tensorflow as tf

    from edgeflow.components.edge_export.variants import wrap_standardization
    from edgeflow.config import SequenceConfig
    from edgeflow.models.sequence.model import build_rnn, compile_rnn, seasonal_change_scale
    from edgeflow.models.sequence.smoothing import fit_smoothing
    from edgeflow.models.sequence.trainer import SequenceTask

    tf.keras.utils.set_random_seed(0)
    t = np.arange(1200)
    raw = 50 + 8 * np.sin(2 * np.pi * t / SEASON) + np.random.default_rng(0).normal(0, 0.2, len(t))
    mean, std = float(raw[:900].mean()), float(raw[:900].std())
    z = (raw - mean) / std
    idx = np.arange(len(z) - WINDOW - HORIZON)
    windows = np.stack([z[i:i + WINDOW] for i in idx])[:, :, None].astype(np.float32)  # (N, W, 1)
    targets = np.stack([z[i + WINDOW:i + WINDOW + HORIZON] for i in idx]).astype(np.float32)  # (N, H)
    cfg = SequenceConfig(task="forecast", units=4, window=WINDOW, horizon=HORIZON, season=SEASON,
                         baselines="persistence,seasonal_naive")
    sm = fit_smoothing(z[:900], SEASON)
    task = SequenceTask(cfg, windows[:800], targets[:800], idx[:800] + WINDOW)
    task.smoothing = sm.to_dict()
    ridge = task.fit_ridge_head(np.arange(700), np.arange(720, 800))  # the Trainer's two heads and switch
    model = build_rnn(WINDOW, 1, HORIZON, cfg, change_scale=seasonal_change_scale(windows, SEASON),
                      smoothing=sm.to_dict(), ridge=ridge)
    compile_rnn(model, "forecast", 0.01).fit(windows[:800], targets[:800], epochs=2, batch_size=64, verbose=0)
    folder = tmp_path_factory.mktemp("int16x8")
    model.save(folder / "model.keras")
    np.savez(folder / "train.npz", x=windows[:800], y=targets[:800])
    wrap = {"mean": [mean], "std": [std], "output_scale": std, "output_offset": mean}
    x_eval = windows[900:] * std + mean
    keras = wrap_standardization(model, wrap).predict(x_eval, verbose=0)
    return folder, wrap, x_eval, keras, std


@pytest.fixture(scope="module")
def int16x8_file(forecaster):
    from edgeflow.components.edge_export.convert import convert_in_child

    folder, wrap, *_ = forecaster
    return convert_in_child(folder / "model.keras", folder / "train.npz", "int16x8", {**SETTINGS, "wrap": wrap,
                            "input_name": "window"}, folder / "int16x8.tflite", 600)


def test_int16x8_forecaster_is_integer_only_with_int16_io(int16x8_file):
    model = read_model_file(int16x8_file)
    assert float_ops(model) == []
    m = EdgeModel(int16x8_file)
    assert m.input["dtype"] == np.int16 and m.output["dtype"] == np.int16
    assert m.input["quantization"][1] == 0 and m.output["quantization"][1] == 0  # symmetric int16


def test_int16x8_forecast_matches_keras_in_target_units(int16x8_file, forecaster):
    """Mean within 0.2 % of the target's std and the max within 4 % (0.11 % and 3.2 % measured: the long head's
    192 unclipped value features each add an int16 step to the 1 % of the model without the heads), on windows
    inside the train range and on the few the range switch sends to the short head."""
    import tensorflow as tf

    folder, wrap, x_eval, keras, std = forecaster
    got = EdgeModel(int16x8_file).run(x_eval)  # raw windows in, target units out (the runtime quantizes)
    diff = np.abs(got - keras)
    switch = tf.keras.models.load_model(folder / "model.keras").get_layer("range_switch")
    outside = switch.outside(((x_eval - wrap["mean"][0]) / wrap["std"][0]).astype(np.float32)).numpy()[:, 0] > 0
    assert 0 < outside.mean() < 0.1  # some eval windows leave the train range, most do not
    assert diff.mean() <= 0.002 * std and diff.max() <= 0.04 * std, (diff.mean() / std, diff.max() / std)


def test_the_same_model_in_int8_is_much_further_off(forecaster, int16x8_file):
    from edgeflow.components.edge_export.convert import convert_in_child

    folder, wrap, x_eval, keras, std = forecaster
    i8 = convert_in_child(folder / "model.keras", folder / "train.npz", "int8", {**SETTINGS, "wrap": wrap,
                          "input_name": "window"}, folder / "int8.tflite", 600)
    err8 = np.abs(EdgeModel(i8).run(x_eval) - keras).mean()
    err16 = np.abs(EdgeModel(int16x8_file).run(x_eval) - keras).mean()
    assert err8 > 10 * err16


def test_the_float_form_of_a_model_with_an_int16x8_sibling_is_unchanged(int16x8_file, forecaster):
    """float32 of the same Keras model stays within 1e-3 of the target's std (the anchor's split maps add up)."""
    from edgeflow.components.edge_export.convert import convert_in_child

    folder, wrap, x_eval, keras, std = forecaster
    f32 = convert_in_child(folder / "model.keras", folder / "train.npz", "float32", {**SETTINGS, "wrap": wrap,
                           "input_name": "window"}, folder / "float32.tflite", 600)
    assert np.abs(EdgeModel(f32).run(x_eval) - keras).max() <= 1e-3 * std
    assert float_ops(read_model_file(f32))  # and float32 is not integer-only


def test_internal_tensor_names_and_calibration_ranges_are_dropped(int16x8_file):
    graph = read_model_file(int16x8_file).subgraphs[0]
    io = set(graph.inputs) | set(graph.outputs)
    assert all(not t.name for i, t in enumerate(graph.tensors) if i not in io)
    assert all(graph.tensors[i].name for i in io)  # the runtime and the model info name them
    assert all(t.quantization is None or t.quantization.min is None for t in graph.tensors)


def test_tensors_with_the_same_quantization_share_one_table(int16x8_file, forecaster):
    """The stripped file against the same model packed with one quantization table per tensor: smaller, and
    the same forecasts bit for bit."""
    import flatbuffers

    data = int16x8_file.read_bytes()
    model = read_model_file(int16x8_file)
    keys = [tuple(t.quantization.scale) for t in model.subgraphs[0].tensors if t.quantization is not None
            and t.quantization.scale is not None]
    assert len(set(keys)) < len(keys)
    builder = flatbuffers.Builder(len(data))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")  # a table per tensor
    unshared = int16x8_file.with_name("unshared.tflite")
    unshared.write_bytes(bytes(builder.Output()))
    assert len(data) < unshared.stat().st_size
    x = forecaster[2][:8]
    assert np.array_equal(EdgeModel(int16x8_file).run(x), EdgeModel(unshared).run(x))


def test_pruning_and_qat_build_for_the_forecaster(forecaster):
    """TFMOT refused the forecaster before (the LSTM is not in QAT's registry; pruning refused the model's
    own weightless layers), and then QAT of the two-head form failed in TF 2.16's converter ("same scale
    constraint" on a slice of the window) while its anchor's and heads' layers were annotated. QAT now
    annotates only the RNN correction (qat_annotate.holds_anchor): both files convert and run in LiteRT on raw windows with forecasts of the right shape and scale (full int8: their error
    is bounded by the int8 output step, not checked here). Under ``auto`` neither is built for it: int16x8
    meets the bar first."""
    from edgeflow.components.edge_export.convert import convert_many_in_child

    folder, wrap, x_eval, keras, std = forecaster
    settings = {**SETTINGS, "wrap": wrap, "input_name": "window", "loss": {"kind": "mse"}, "fine_tune_epochs": 1,
                "fine_tune_learning_rate": 0.0005, "prune_sparsity": 0.5, "batch_size": 64}
    built = convert_many_in_child(folder / "model.keras", folder / "train.npz",
                                  [(v, folder / f"{v}.tflite") for v in ("qat_int8", "pruned_int8")], settings, 600)
    for variant in ("qat_int8", "pruned_int8"):
        path = built[variant]
        assert not isinstance(path, Exception), (variant, path)
        got = EdgeModel(path).run(x_eval)
        assert got.shape == keras.shape and np.abs(got - keras).mean() < std, variant
    # integer-only is not asserted: on this small model both files keep a few float ops (QAT a MUL of the
    # raw window's standardization, pruning some slices); the bundled run's qat_int8 is integer-only
    # (BENCHMARKS.md, issue 18)


def test_qat_annotates_only_the_forecasters_rnn_correction(forecaster):
    import tensorflow as tf

    from edgeflow.components.edge_export.qat_annotate import annotate, holds_anchor

    model = tf.keras.models.load_model(forecaster[0] / "model.keras")
    assert holds_anchor(model)
    annotated = {layer.layer.name for layer in annotate(model).layers if "QuantizeAnnotate" in layer.__class__.__name__}
    assert annotated == {"forecast"}
