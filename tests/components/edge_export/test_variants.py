"""Every TFLite variant agrees with the Keras model on real eval inputs, within a stated tolerance."""
import numpy as np
import pytest

from edgeflow.edge.runtime import EdgeModel

pytestmark = pytest.mark.slow

# Largest allowed |p_tflite - p_keras| per variant (probabilities), and accuracy change in points.
PROB_TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "dynamic": 0.1, "int8": 0.15}
FINE_TUNED_MAX_DROP_POINTS = 3.0  # QAT, pruning and clustering retrain; compare accuracy instead


@pytest.fixture(scope="module")
def keras_probs(digits, digits_keras):
    import tensorflow as tf

    model = tf.keras.models.load_model(digits_keras, compile=False)
    return model.predict(digits[2], verbose=0)


@pytest.mark.parametrize("variant", sorted(PROB_TOLERANCE))
def test_post_training_variants_match_keras(variant, variant_files, digits, keras_probs):
    probs = EdgeModel(variant_files[variant]).run(digits[2])
    assert np.abs(probs - keras_probs).max() <= PROB_TOLERANCE[variant]
    assert (probs.argmax(-1) == keras_probs.argmax(-1)).mean() >= 0.97


@pytest.mark.parametrize("variant", ["qat_int8", "pruned_int8", "clustered_int8"])
def test_fine_tuned_variants_keep_accuracy(variant, variant_files, digits, keras_probs):
    y = digits[3]
    keras_acc = (keras_probs.argmax(-1) == y).mean()
    acc = (EdgeModel(variant_files[variant]).run(digits[2]).argmax(-1) == y).mean()
    assert acc >= 0.9 and 100 * (keras_acc - acc) <= FINE_TUNED_MAX_DROP_POINTS


def test_int8_is_at_most_three_tenths_of_float32(variant_files):
    ratio = variant_files["int8"].stat().st_size / variant_files["float32"].stat().st_size
    assert ratio <= 0.3


def test_int8_variants_have_int8_input_and_output(variant_files):
    for name in ("int8", "qat_int8", "pruned_int8", "clustered_int8"):
        m = EdgeModel(variant_files[name])
        assert m.input["dtype"] == np.int8 and m.output["dtype"] == np.int8
        assert m.input_shape == (1, 8, 8, 1)


def test_pruning_shows_in_the_gzipped_size(variant_files):
    import gzip

    gz = {v: len(gzip.compress(variant_files[v].read_bytes(), 9)) for v in ("int8", "pruned_int8")}
    assert gz["pruned_int8"] < gz["int8"]
