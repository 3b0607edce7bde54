"""Edge fixtures: a small digits CNN trained in seconds, and its TFLite variants (each built once, on first use)."""
import edgeflow  # noqa: F401

import numpy as np
import pytest

EXPORT_SETTINGS = dict(fine_tune_epochs=1, fine_tune_learning_rate=0.0005, prune_sparsity=0.5,
                       cluster_count=16, representative_samples=100, seed=0)
VARIANTS = ("float32", "float16", "dynamic", "int8", "qat_int8", "pruned_int8", "clustered_int8")


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits scaled to [0, 1]: (x_train, y_train, x_eval, y_eval)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32)[..., None], d.target.astype(np.int64)
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture(scope="session")
def digits_keras(digits, tmp_path_factory):
    """Path of a trained 2-block CNN (about 67k parameters) saved as .keras."""
    import tensorflow as tf

    from edgeflow.models.image.model import build_cnn
    from edgeflow.config import ModelConfig

    tf.keras.utils.set_random_seed(0)
    x, y, _, _ = digits
    model = build_cnn((8, 8, 1), 10, ModelConfig(blocks=2, filters=32, dropout=0.1))
    model.compile(optimizer=tf.keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    model.save(path)
    return path


class LazyVariants(dict):
    """{variant: .tflite path}; each variant is converted (in a child process) the first time a test asks
    for it, so a run that selects a few tests builds only what they read."""

    def __init__(self, keras_path, train_npz):
        super().__init__()
        self.keras_path, self.train_npz = keras_path, train_npz

    def __missing__(self, variant):
        from edgeflow.components.edge_export.convert import convert_in_child

        assert variant in VARIANTS, f"unknown variant {variant!r}"
        out = self.keras_path.parent / f"{variant}.tflite"
        self[variant] = convert_in_child(self.keras_path, self.train_npz, variant, EXPORT_SETTINGS, out, 600)
        return self[variant]


@pytest.fixture(scope="session")
def variant_files(digits, digits_keras):
    """{variant: .tflite path}, built lazily through the child-process converter."""
    x, y, _, _ = digits
    np.savez(digits_keras.parent / "train.npz", x=x, y=y)
    return LazyVariants(digits_keras, digits_keras.parent / "train.npz")
