"""Every tf.Example feature key edgeflow writes or reads, in one place.

The ExampleGens write the raw keys, Transform's ``preprocessing_fn`` turns them into the
transformed keys, and the Trainers, evaluators, EdgeExport and serving signatures read them by
these names. TFX's penguin template keeps its keys the same way (``features.py``).
"""

# ---- raw keys, written by the ExampleGens -------------------------------------------------
LABEL_KEY = "label"  # image, sequence classify: int64 class index (class names sorted)
PATH_KEY = "image_path"  # image: "<class>/<file>", relative: the deterministic split key
IMAGE_KEY = "image_raw"  # image, detection: the encoded PNG/JPEG bytes, exactly as on disk
WINDOW_KEY = "window"  # sequence: float (window * features,): raw values, step-major
TARGET_KEY = "target"  # sequence forecast: float (horizon,) raw future values of the target column
TIME_KEY = "target_step"  # sequence forecast: int64 row index of the first target step (the split's clock)
ID_KEY = "sequence_id"  # sequence classify: bytes
# detection: variable-length box features, one value per object: (cx, cy, w, h) in [0, 1] and the class index
BOX_KEYS = ("bbox/cx", "bbox/cy", "bbox/w", "bbox/h")
CLASS_KEY = "bbox/class"

# ---- transformed keys, written by Transform -----------------------------------------------
IMAGE_FEATURE = "image"  # image: (B, size, size, channels) float32 in [0, 1]
WINDOW_FEATURE = "window_norm"  # sequence: (B, W * F) standardized
TARGET_FEATURE = "target_norm"  # sequence forecast: (B, H) standardized like the target column
TARGET_MEAN = "target_mean"  # sequence forecast: (B,) the target column's train mean, to undo the scaling
TARGET_STD = "target_std"  # sequence forecast: (B,) its train standard deviation
