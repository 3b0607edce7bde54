"""edgeflow: from raw data to a model on a device, every step reproducible and tracked.

Importing any part of edgeflow goes through this module first, so this is the one
place that fixes the process environment before TensorFlow is imported:

* ``TF_USE_LEGACY_KERAS=1`` makes ``tf.keras`` Keras 2 (tf_keras), which TFX 1.16's
  Trainer and tensorflow-model-optimization both require;
* TensorFlow's C++ logs and CUDA-not-found chatter are silenced, so the console
  keeps edgeflow's own progress (the full logs go to a file, see ``pipelines.logs``).
"""
import os
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

__version__ = "0.1.0"


class EdgeflowError(Exception):
    """An error a user can fix; its message is one sentence naming the problem and the fix."""
