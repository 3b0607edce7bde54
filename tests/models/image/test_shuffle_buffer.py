"""The image Trainer's fit shuffle is bounded by bytes, not by a fixed count of examples."""
import numpy as np
import tensorflow as tf

from edgeflow.models.image.trainer import SHUFFLE_BUFFER, SHUFFLE_BUFFER_BYTES, shuffle_buffer_size


def test_small_images_keep_the_whole_count_and_large_ones_fit_the_byte_bound():
    assert shuffle_buffer_size((8, 8, 1)) == SHUFFLE_BUFFER  # digits: 256 bytes each
    big = shuffle_buffer_size((224, 224, 3))
    assert big == 445 and big * 224 * 224 * 3 * 4 <= SHUFFLE_BUFFER_BYTES
    assert shuffle_buffer_size((224, 224, 3), dtype_size=1) == 4 * big + 3  # uint8 images: four times as many
    assert shuffle_buffer_size((8192, 8192, 3)) == 1  # never empty


def test_the_bound_reads_the_datasets_element_shape():
    images = tf.data.Dataset.from_tensor_slices(np.zeros((2, 96, 96, 3), np.float32)).element_spec
    assert shuffle_buffer_size(images.shape, images.dtype.size) == SHUFFLE_BUFFER_BYTES // (96 * 96 * 3 * 4)
