"""Transform's preprocessing_fn for images: decode, resize and scale inside the graph.

Because this runs in the TensorFlow Transform graph, the exported model carries it:
a serving request sends the encoded PNG/JPEG bytes and nothing else.
"""
import tensorflow as tf

from edgeflow.models.features import IMAGE_KEY, LABEL_KEY
from edgeflow.models.features import IMAGE_FEATURE



def decode_images(encoded: tf.Tensor, size: int, channels: int) -> tf.Tensor:
    """(B,) or (B, 1) encoded PNG/JPEG bytes -> (B, size, size, channels) float32 in [0, 1]."""
    def decode(data):
        img = tf.io.decode_image(data, channels=channels, expand_animations=False)
        return tf.image.resize(tf.cast(img, tf.float32), [size, size]) / 255.0

    return tf.map_fn(decode, tf.reshape(encoded, [-1]),
                     fn_output_signature=tf.TensorSpec([size, size, channels], tf.float32))


def preprocessing_fn(inputs, custom_config):
    outputs = {IMAGE_FEATURE: decode_images(inputs[IMAGE_KEY], custom_config["image_size"],
                                            custom_config["channels"])}
    if LABEL_KEY in inputs:
        outputs[LABEL_KEY] = inputs[LABEL_KEY]
    return outputs
