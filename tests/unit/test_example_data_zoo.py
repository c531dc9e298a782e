"""The zoo entries of the examples: their int8 models use only operators the
AOT runtime runs, and imu_cnn1d's (k, 1) convolution is a 1-D convolution."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml import zoo
from tinyml.errors import ConfigError

AOT_OPERATORS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
                 "SOFTMAX", "RESHAPE", "ADD", "MUL", "PAD", "CONCATENATION", "QUANTIZE", "DEQUANTIZE",
                 "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH"}


@pytest.mark.slow
@pytest.mark.parametrize("name,shape,classes,expected", [
    ("fashion_cnn", (28, 28, 1), 10, ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]),
    ("imu_cnn1d", (100, 1, 6), 7, ["CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
                                   "SOFTMAX"]),
    ("ds_cnn", (49, 10, 1), 12, ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE",
                                 "FULLY_CONNECTED", "SOFTMAX"]),
])
def test_int8_operators_are_supported_by_aot(tmp_path, name, shape, classes, expected):
    from tinyml.quantize import _convert
    from tinyml.tflite_model import load_model

    model = zoo.build(name, shape, classes, 0.5 if name == "ds_cnn" else None)
    representative = np.random.default_rng(0).random((16,) + shape, dtype=np.float32)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(_convert(model, representative))
    tfl = load_model(path)
    assert sorted(tfl.opcodes) == sorted(expected)
    assert set(tfl.opcodes) <= AOT_OPERATORS
    from tinyml.runtimes.aot import check_supported
    check_supported(tfl)          # raises UnsupportedOperatorError naming the operator


def test_imu_cnn1d_needs_t_1_c_windows():
    with pytest.raises(ConfigError, match=r"\(T, 1, C\)"):
        zoo.build("imu_cnn1d", (100, 6), 7)


def test_kx1_conv2d_is_a_1d_convolution():
    from tinyml.tfcompat import keras

    k = keras()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 20, 1, 3)).astype(np.float32)
    layer = k.layers.Conv2D(2, (5, 1), padding="valid")
    y = layer(x).numpy()
    w, b = (v.numpy() for v in layer.weights)          # (5, 1, 3, 2), (2,)
    ref = np.zeros((16, 2))
    for t in range(16):
        ref[t] = np.einsum("kc,kco->o", x[0, t:t + 5, 0, :], w[:, 0]) + b
    np.testing.assert_allclose(y[0, :, 0, :], ref, rtol=1e-5, atol=1e-5)
