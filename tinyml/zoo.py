"""The model zoo: a small CNN for 8x8 digits and the four MLPerf Tiny
reference architectures, each with a width multiplier.

Architectures follow the MLPerf Tiny reference training scripts
(mlcommons/tiny benchmark/training): DS-CNN (KWS), MobileNetV1 (VWW),
ResNet-8 (CIFAR-10) and the fully connected autoencoder (anomaly detection).
The input shape and class count come from the dataset, so each can be trained
on any data of a compatible rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import ConfigError


@dataclass(frozen=True)
class ZooEntry:
    name: str
    task: str                       # "classification" or "autoencoder"
    reference_input: tuple[int, ...]
    description: str
    build: Callable


def _scaled(units: int, width: float) -> int:
    return max(1, int(round(units * width)))


def _small_cnn(input_shape, num_classes, width, dense_units, name):
    """Two 3x3 conv + max-pool blocks (16 and 32 filters) and a dense layer."""
    k = _keras()
    L = k.layers
    inp = k.Input(input_shape)
    x = L.Conv2D(_scaled(16, width), 3, padding="same", activation="relu")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(_scaled(32, width), 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(_scaled(dense_units, width), activation="relu")(x)
    out = L.Dense(num_classes, activation="softmax")(x)
    return k.Model(inp, out, name=name)


def digits_cnn(input_shape, num_classes, width=1.0):
    return _small_cnn(input_shape, num_classes, width, 32, "digits_cnn")


def ds_cnn(input_shape, num_classes, width=1.0):
    """DS-CNN (small) for keyword spotting: 10x4 stride-2 conv, four
    depthwise-separable blocks, average pool, dense."""
    k = _keras()
    L = k.layers
    filters = _scaled(64, width)
    inp = k.Input(input_shape)
    x = L.Conv2D(filters, (10, 4), strides=(2, 2), padding="same", use_bias=True)(inp)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.Conv2D(filters, 1, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
    x = L.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    x = L.Flatten()(x)
    out = L.Dense(num_classes, activation="softmax")(x)
    return k.Model(inp, out, name="ds_cnn")


def mobilenet_v1(input_shape, num_classes, width=0.25):
    """MobileNetV1 with width multiplier alpha (0.25 for visual wake words)."""
    k = _keras()
    L = k.layers

    def conv_bn(x, filters, stride, kernel=3):
        x = L.Conv2D(_scaled(filters, width), kernel, strides=stride, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        return L.Activation("relu")(x)

    def dw_block(x, filters, stride):
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        return conv_bn(x, filters, 1, kernel=1)

    inp = k.Input(input_shape)
    x = conv_bn(inp, 32, 2)
    for filters, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                            (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]:
        x = dw_block(x, filters, stride)
    x = L.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    x = L.Flatten()(x)
    out = L.Dense(num_classes, activation="softmax")(x)
    return k.Model(inp, out, name="mobilenet_v1")


def resnet8(input_shape, num_classes, width=1.0):
    """ResNet-8 for CIFAR-10: three residual stacks of 16/32/64 filters."""
    k = _keras()
    L = k.layers
    reg = k.regularizers.l2(1e-4)

    def conv(x, filters, kernel, stride):
        return L.Conv2D(_scaled(filters, width), kernel, strides=stride, padding="same",
                        kernel_initializer="he_normal", kernel_regularizer=reg)(x)

    inp = k.Input(input_shape)
    x = conv(inp, 16, 3, 1)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    for filters, stride in [(16, 1), (32, 2), (64, 2)]:
        y = conv(x, filters, 3, stride)
        y = L.BatchNormalization()(y)
        y = L.Activation("relu")(y)
        y = conv(y, filters, 3, 1)
        y = L.BatchNormalization()(y)
        if stride != 1 or int(x.shape[-1]) != _scaled(filters, width):
            x = conv(x, filters, 1, stride)
        x = L.Add()([x, y])
        x = L.Activation("relu")(x)
    x = L.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    x = L.Flatten()(x)
    out = L.Dense(num_classes, activation="softmax")(x)
    return k.Model(inp, out, name="resnet8")


def fc_autoencoder(input_shape, num_classes=None, width=1.0):
    """The anomaly-detection autoencoder: 4x128, an 8-unit bottleneck, 4x128."""
    k = _keras()
    L = k.layers
    inp = k.Input(input_shape)
    x = L.Flatten()(inp) if len(input_shape) > 1 else inp
    for units in [128, 128, 128, 128, 8, 128, 128, 128, 128]:
        x = L.Dense(_scaled(units, width))(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
    out = L.Dense(int(__import__("numpy").prod(input_shape)))(x)
    if len(input_shape) > 1:
        out = L.Reshape(input_shape)(out)
    return k.Model(inp, out, name="fc_autoencoder")


def fashion_cnn(input_shape, num_classes, width=1.0):
    """Small CNN for 28x28 grey images (Fashion-MNIST): two 3x3 conv + max-pool
    blocks and a 64-unit dense layer, about 0.1 M parameters and 1.1 M MACs."""
    return _small_cnn(input_shape, num_classes, width, 64, "fashion_cnn")


def imu_cnn1d(input_shape, num_classes, width=1.0):
    """1-D CNN over time for multi-axis sensor windows (T, 1, C).

    A Conv2D with a (k, 1) kernel on a (T, 1, C) tensor is exactly a 1-D
    convolution over T with C input channels; written that way the int8
    model is plain CONV_2D / MAX_POOL_2D / AVERAGE_POOL_2D, where Keras
    Conv1D adds EXPAND_DIMS and RESHAPE around every convolution. Windows
    must be (T, 1, C): a Reshape layer inside the model would convert to
    SHAPE / STRIDED_SLICE / PACK for the dynamic batch dimension.
    """
    if len(input_shape) != 3 or input_shape[1] != 1:
        raise ValueError("expected windows of shape (T, 1, C)")
    k = _keras()
    L = k.layers
    inp = k.Input(input_shape)
    x = inp
    for filters in (16, 32):
        x = L.Conv2D(_scaled(filters, width), (5, 1), padding="same", activation="relu")(x)
        x = L.MaxPooling2D((2, 1))(x)
    x = L.Conv2D(_scaled(64, width), (5, 1), padding="same", activation="relu")(x)
    x = L.AveragePooling2D(pool_size=(int(x.shape[1]), 1))(x)
    x = L.Flatten()(x)
    out = L.Dense(num_classes, activation="softmax")(x)
    return k.Model(inp, out, name="imu_cnn1d")


ZOO: dict[str, ZooEntry] = {
    "digits_cnn": ZooEntry("digits_cnn", "classification", (8, 8, 1),
                           "small CNN for 8x8 digits (scikit-learn)", digits_cnn),
    "ds_cnn": ZooEntry("ds_cnn", "classification", (49, 10, 1),
                       "DS-CNN, MLPerf Tiny keyword spotting", ds_cnn),
    "mobilenet_v1": ZooEntry("mobilenet_v1", "classification", (96, 96, 3),
                             "MobileNetV1 (alpha = width), MLPerf Tiny visual wake words", mobilenet_v1),
    "resnet8": ZooEntry("resnet8", "classification", (32, 32, 3),
                        "ResNet-8, MLPerf Tiny image classification (CIFAR-10)", resnet8),
    "fc_autoencoder": ZooEntry("fc_autoencoder", "autoencoder", (640,),
                               "fully connected autoencoder, MLPerf Tiny anomaly detection", fc_autoencoder),
    "fashion_cnn": ZooEntry("fashion_cnn", "classification", (28, 28, 1),
                            "small CNN for 28x28 grey images (Fashion-MNIST)", fashion_cnn),
    "imu_cnn1d": ZooEntry("imu_cnn1d", "classification", (100, 1, 6),
                          "1-D CNN for IMU windows (T, 1, C) (seglearn watch gestures)", imu_cnn1d),
}

DEFAULT_WIDTH = {"mobilenet_v1": 0.25}


def get_entry(name: str) -> ZooEntry:
    if name not in ZOO:
        import difflib
        close = difflib.get_close_matches(name, ZOO, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown zoo model '{name}' (available: {', '.join(ZOO)}).{hint}")
    return ZOO[name]


def build(name: str, input_shape: tuple[int, ...], num_classes: int, width: float | None = None):
    entry = get_entry(name)
    if width is None:
        width = DEFAULT_WIDTH.get(name, 1.0)
    if width <= 0:
        raise ConfigError(f"width multiplier must be positive, got {width}.")
    try:
        return entry.build(tuple(input_shape), num_classes, width=width)
    except ValueError as exc:
        raise ConfigError(f"zoo model '{name}' cannot take inputs of shape {tuple(input_shape)} "
                          f"(its reference input is {entry.reference_input}): {exc}") from exc


def _keras():
    from .tfcompat import keras
    return keras()
