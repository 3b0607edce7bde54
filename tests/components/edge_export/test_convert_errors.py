"""Bad input to the converter gets one clear sentence."""
import numpy as np
import pytest

from edgeflow.components.edge_export.variants import ConversionError


def test_empty_representative_dataset_is_named(digits_keras, tmp_path):
    from edgeflow.components.edge_export.convert import convert_in_child

    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 8, 8, 1), np.float32), y=np.zeros((0,), np.int64))
    with pytest.raises(ConversionError, match="representative dataset is empty"):
        convert_in_child(digits_keras, tmp_path / "empty.npz", "int8", {}, tmp_path / "int8.tflite", 300)


def test_unknown_variant_is_named(digits_keras, tmp_path):
    from edgeflow.components.edge_export.convert import convert_in_child

    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 8, 1), np.float32), y=np.zeros((2,), np.int64))
    with pytest.raises(ConversionError, match="unknown variant 'int4'"):
        convert_in_child(digits_keras, tmp_path / "d.npz", "int4", {}, tmp_path / "x.tflite", 300)
