"""TensorFlow, imported the one way tinyml uses it.

tinyml trains, prunes and converts tf-keras (Keras 2) models, because
tensorflow-model-optimization works on those; TF_USE_LEGACY_KERAS must be set
before TensorFlow is first imported for `tf.keras` to be tf-keras. Keras 3
models are converted on import (see tinyml.importer).
"""

from __future__ import annotations

import os


def _quiet_env() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


_quiet_env()  # before anything can import TensorFlow through this module


def tf():
    import warnings
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(tensorflow|tf_keras|keras)")
    import sys
    if "tensorflow" not in sys.modules and not os.environ.get("TINYML_DEBUG"):
        # TensorFlow's C++ start-up messages (CUDA probing on a CPU-only host)
        # bypass TF_CPP_MIN_LOG_LEVEL; hide them unless --debug.
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            import tensorflow as tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import tensorflow as tensorflow
    import absl.logging
    absl.logging.set_verbosity(absl.logging.ERROR)
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


def keras():
    """tf-keras (Keras 2), the Keras of the pipeline."""
    tf()
    import tf_keras
    return tf_keras


def seed_everything(seed: int) -> None:
    """Same seed, same weights, same artifacts: seeds Python, NumPy and TF and
    makes TF ops deterministic."""
    t = tf()
    # Fresh layer-name counters too: names end up in the saved model.
    keras().backend.clear_session()
    keras().utils.set_random_seed(seed)
    try:
        t.config.experimental.enable_op_determinism()
    except Exception:  # already enabled in this process
        pass
