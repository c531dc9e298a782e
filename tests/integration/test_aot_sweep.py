"""Single-operator sweep: every kernel of the aot runtime against tflite-micro, bit for bit.

Small Keras 3 models (one layer each, sometimes two to reach an operator the
converter would otherwise fuse) are converted to full-int8 TFLite in the
test, generated to C, compiled for the host with gcc and fed random int8
inputs; every output byte must equal the Python tflite-micro interpreter's.

Models are built once per family (one test per family), so pytest-xdist can
spread the families over workers without building anything twice.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.needs_toolchain, pytest.mark.slow]

SAMPLES = 100


def _layers():
    import keras
    return keras, keras.layers


# Each case: name -> (input shape without batch, builder(keras, layers, x) -> output, options)
def _conv_cases():
    def conv(**kw):
        return lambda k, L, x: L.Conv2D(**kw)(x)
    return {
        "conv3x3_s1_same_relu": ((9, 9, 3), conv(filters=8, kernel_size=3, padding="same", activation="relu")),
        "conv3x3_s2_valid": ((9, 9, 3), conv(filters=5, kernel_size=3, strides=2, padding="valid")),
        "conv3x3_s2_same_even": ((8, 10, 4), conv(filters=6, kernel_size=3, strides=2, padding="same")),
        "conv1x1_s1": ((6, 6, 16), conv(filters=12, kernel_size=1, activation="relu")),
        "conv1x1_s2": ((7, 7, 8), conv(filters=9, kernel_size=1, strides=2)),
        "conv5x3_s21_same_relu6": ((10, 7, 2), conv(filters=7, kernel_size=(5, 3), strides=(2, 1),
                                                      padding="same", activation="relu6")),
        "conv3x3_dil2_same": ((11, 11, 3), conv(filters=4, kernel_size=3, dilation_rate=2, padding="same")),
        "conv3x3_dil21_valid": ((9, 8, 2), conv(filters=4, kernel_size=3, dilation_rate=(2, 1),
                                                  padding="valid")),
        "conv_nobias_1ch": ((12, 5, 1), conv(filters=16, kernel_size=(4, 3), strides=2, padding="same",
                                              use_bias=False)),
        "conv3x3_per_tensor": ((8, 8, 3), conv(filters=6, kernel_size=3, padding="same", activation="relu"),
                               {"per_tensor": True}),
        "conv7x7_s2_same": ((15, 13, 3), conv(filters=5, kernel_size=7, strides=2, padding="same")),
    }


def _depthwise_cases():
    def dw(**kw):
        return lambda k, L, x: L.DepthwiseConv2D(**kw)(x)
    return {
        "dw3x3_s1_same_relu": ((9, 9, 8), dw(kernel_size=3, padding="same", activation="relu")),
        "dw3x3_s2_same": ((10, 9, 6), dw(kernel_size=3, strides=2, padding="same")),
        "dw3x3_s2_valid": ((9, 9, 5), dw(kernel_size=3, strides=2, padding="valid")),
        "dw3x3_dm2_same": ((7, 7, 4), dw(kernel_size=3, depth_multiplier=2, padding="same")),
        "dw5x5_dm3_valid_relu6": ((9, 8, 3), dw(kernel_size=5, depth_multiplier=3, activation="relu6")),
        "dw3x3_dil2_same": ((11, 10, 4), dw(kernel_size=3, dilation_rate=2, padding="same")),
        "dw3x3_nobias_per_tensor": ((8, 8, 6), dw(kernel_size=3, padding="same", use_bias=False),
                                    {"per_tensor": True}),
        "dw5x3_s12_same": ((9, 11, 7), dw(kernel_size=(5, 3), strides=(1, 2), padding="same")),
    }


def _fc_cases():
    def dense(**kw):
        return lambda k, L, x: L.Dense(**kw)(x)
    return {
        "fc_16_10": ((16,), dense(units=10)),
        "fc_37_5_relu": ((37,), dense(units=5, activation="relu")),
        "fc_nobias_per_tensor": ((24,), dense(units=7, use_bias=False), {"per_tensor": True}),
        "fc_batched_rows": ((4, 8), dense(units=6)),
        "fc_after_flatten": ((3, 3, 4), lambda k, L, x: L.Dense(5)(L.Flatten()(x))),
    }


def _pool_cases():
    return {
        "avgpool2x2_s2": ((8, 8, 4), lambda k, L, x: L.AveragePooling2D(2)(x)),
        "avgpool3x3_s1_same": ((7, 6, 3), lambda k, L, x: L.AveragePooling2D(3, strides=1, padding="same")(x)),
        "avgpool3x3_s2_same": ((9, 7, 5), lambda k, L, x: L.AveragePooling2D(3, strides=2, padding="same")(x)),
        "maxpool2x2_s2": ((8, 8, 4), lambda k, L, x: L.MaxPooling2D(2)(x)),
        "maxpool3x3_s2_same": ((9, 7, 5), lambda k, L, x: L.MaxPooling2D(3, strides=2, padding="same")(x)),
        "global_avg_mean": ((6, 5, 8), lambda k, L, x: L.GlobalAveragePooling2D()(x)),
        "global_avg_keepdims": ((5, 5, 3), lambda k, L, x: L.GlobalAveragePooling2D(keepdims=True)(x)),
        "global_max": ((6, 4, 5), lambda k, L, x: L.GlobalMaxPooling2D()(x)),
        "mean_last_axis": ((4, 6, 5), lambda k, L, x: L.Lambda(lambda t: k.ops.mean(t, axis=-1))(x)),
    }


def _activation_cases():
    def act(name):
        return lambda k, L, x: L.Activation(name)(x)
    return {
        "softmax_10": ((10,), act("softmax")),
        "softmax_rows": ((3, 7), act("softmax")),
        "softmax_2": ((2,), act("softmax")),
        "logistic": ((4, 4, 16), act("sigmoid")),
        "tanh": ((4, 4, 16), act("tanh")),
        "leaky_relu": ((4, 4, 16), lambda k, L, x: L.LeakyReLU(negative_slope=0.2)(x)),
        "hard_swish": ((4, 4, 16), act("hard_swish")),
        "relu": ((4, 4, 16), act("relu")),
        "relu6": ((4, 4, 16), lambda k, L, x: L.ReLU(max_value=6.0)(x)),
    }


def _elementwise_cases():
    def add_skip(k, L, x):
        return L.Add()([L.Conv2D(4, 1)(x), x])

    def add_relu(k, L, x):
        return L.Activation("relu")(L.Add()([L.Conv2D(4, 3, padding="same")(x), x]))

    def add_broadcast(k, L, x):
        return L.Add()([x, L.GlobalAveragePooling2D(keepdims=True)(x)])

    def mul_gate(k, L, x):
        return L.Multiply()([x, L.Conv2D(4, 1, activation="sigmoid")(x)])

    def mul_broadcast(k, L, x):
        return L.Multiply()([x, L.Dense(4, activation="sigmoid")(L.GlobalAveragePooling2D(keepdims=True)(x))])

    def concat(k, L, x):
        return L.Concatenate()([L.Conv2D(3, 1)(x), L.Conv2D(5, 3, padding="same")(x)])

    def concat_axis1(k, L, x):
        return L.Concatenate(axis=1)([x, L.MaxPooling2D((2, 1))(x)])

    def reshape(k, L, x):
        return L.Dense(6)(L.Reshape((8, 6))(L.Conv2D(3, 1)(x)))

    def pad(k, L, x):
        return L.ZeroPadding2D(((1, 2), (2, 0)))(x)

    def subtract(k, L, x):
        return L.Subtract()([x, L.Conv2D(3, 1)(x)])

    def requantize(k, L, x):
        # LOGISTIC and TANH have fixed output scales: the converter requantizes
        # both (int8 -> int8 QUANTIZE) to concatenate them.
        return L.Concatenate()([L.Activation("sigmoid")(x), L.Activation("tanh")(x)])

    return {
        "add_skip": ((6, 6, 4), add_skip),
        "add_relu": ((5, 5, 4), add_relu),
        "add_broadcast": ((5, 4, 4), add_broadcast),
        "mul_gate": ((5, 5, 4), mul_gate),
        "mul_broadcast": ((6, 5, 4), mul_broadcast),
        "concat_channels": ((6, 6, 4), concat),
        "concat_axis1": ((6, 5, 3), concat_axis1),
        "reshape_between": ((4, 4, 4), reshape),
        "pad": ((5, 4, 3), pad),
        "subtract": ((5, 5, 3), subtract),
        "requantize_concat": ((4, 4, 3), requantize),
    }


def _in_place_cases():
    """Operators the planner runs in place (their input is an intermediate
    tensor that dies there): depthwise and same-shape convs with a row ring,
    1x1 conv with out_c <= in_c."""
    def chain(*make):
        def build(k, L, x):
            for m in make:
                x = m(L)(x)
            return x
        return build
    return {
        "dw_in_place_3x3": ((7, 6, 3), chain(lambda L: L.Conv2D(8, 1), lambda L: L.DepthwiseConv2D(
            3, padding="same", activation="relu"))),
        "dw_in_place_odd_channels": ((6, 5, 2), chain(lambda L: L.Conv2D(7, 1), lambda L: L.DepthwiseConv2D(
            3, padding="same"))),
        "dw_in_place_5x3_dilated": ((9, 8, 2), chain(lambda L: L.Conv2D(6, 1), lambda L: L.DepthwiseConv2D(
            (5, 3), padding="same", dilation_rate=2))),
        "dw_in_place_chain": ((8, 8, 3), chain(lambda L: L.Conv2D(12, 1), lambda L: L.DepthwiseConv2D(
            3, padding="same", activation="relu"), lambda L: L.DepthwiseConv2D(3, padding="same"))),
        "pw_in_place_shrink": ((6, 6, 3), chain(lambda L: L.Conv2D(12, 3, padding="same"),
                                               lambda L: L.Conv2D(8, 1, activation="relu"),
                                               lambda L: L.Conv2D(4, 1))),
        "pw_in_place_equal_odd": ((5, 7, 3), chain(lambda L: L.Conv2D(9, 1), lambda L: L.Conv2D(9, 1),
                                                  lambda L: L.Conv2D(5, 1))),
        # 3x3 and larger convs in place keep a ring of input rows; 4-pixel blocks
        # that span two rows (width 6, 7), pixel tails, out_c < in_c, dilation
        "conv_in_place_3x3": ((7, 6, 3), chain(lambda L: L.Conv2D(8, 1), lambda L: L.Conv2D(
            8, 3, padding="same", activation="relu"))),
        "conv_in_place_5x3_dilated_shrink": ((9, 7, 2), chain(lambda L: L.Conv2D(6, 1), lambda L: L.Conv2D(
            4, (5, 3), padding="same", dilation_rate=2), lambda L: L.Conv2D(3, 1))),
        "conv_in_place_chain": ((6, 5, 3), chain(lambda L: L.Conv2D(7, 1), lambda L: L.Conv2D(
            7, 3, padding="same"), lambda L: L.Conv2D(5, 3, padding="same", activation="relu"),
            lambda L: L.Conv2D(2, 1))),
    }


def _io_cases():
    return {
        "float_in_out": ((12,), lambda k, L, x: L.Dense(5)(x), {"float_io": True}),
        "float_in_out_conv": ((6, 6, 2), lambda k, L, x: L.Conv2D(3, 3)(x), {"float_io": True}),
    }


# Operators each family must reach (so that the sweep keeps covering every kernel).
EXPECTED_OPERATORS = {
    "conv": {"CONV_2D"},
    "depthwise": {"DEPTHWISE_CONV_2D"},
    "fully_connected": {"FULLY_CONNECTED", "RESHAPE"},
    "pooling": {"AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "REDUCE_MAX"},
    "activations": {"SOFTMAX", "LOGISTIC", "TANH", "LEAKY_RELU", "HARD_SWISH", "RELU", "RELU6"},
    "elementwise": {"ADD", "SUB", "MUL", "CONCATENATION", "PAD", "RESHAPE", "QUANTIZE"},
    "float_io": {"QUANTIZE", "DEQUANTIZE"},
    "in_place": {"CONV_2D", "DEPTHWISE_CONV_2D"},
}

FAMILIES = {
    "conv": _conv_cases, "depthwise": _depthwise_cases, "fully_connected": _fc_cases,
    "pooling": _pool_cases, "activations": _activation_cases, "elementwise": _elementwise_cases,
    "float_io": _io_cases, "in_place": _in_place_cases,
}


def _convert(model, shape, *, per_tensor=False, float_io=False, seed=0) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(32):
            yield [rng.uniform(-2.0, 2.0, size=(1, *shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    if per_tensor:
        conv._experimental_disable_per_channel = True
    # The converter prints the exported signature; keep test output readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return conv.convert()


def _build_family(family: str, out_dir: Path) -> dict[str, Path]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras, layers = _layers()
    paths = {}
    for name, spec in FAMILIES[family]().items():
        shape, builder = spec[0], spec[1]
        options = spec[2] if len(spec) > 2 else {}
        keras.utils.set_random_seed(abs(hash(name)) % 10000)
        x = keras.Input(shape, batch_size=1)
        model = keras.Model(x, builder(keras, layers, x))
        path = out_dir / f"{name}.tflite"
        path.write_bytes(_convert(model, shape, **options))
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def kernels_object(tmp_path_factory) -> Path:
    from tinyml.resources import data_dir
    from tinyml.runtimes.aot.host import build_kernels_object

    d = tmp_path_factory.mktemp("aot_kernels")
    return build_kernels_object(data_dir("firmware_templates") / "aot" / "kernels", d / "tinyml_kernels.o")


@pytest.fixture(scope="session")
def sweep_models(tmp_path_factory):
    """family -> {case: .tflite}, each family converted once per test process."""
    cache: dict[str, dict[str, Path]] = {}

    def get(family: str) -> dict[str, Path]:
        if family not in cache:
            cache[family] = _build_family(family, tmp_path_factory.mktemp(f"sweep_{family}"))
        return cache[family]
    return get


def check_bit_exact(model_path: Path, work: Path, kernels_object: Path, samples: int = SAMPLES,
                    seed: int = 1, sanitize: bool = False) -> tuple[bool, str, list[str]]:
    """Generate, build, run; compare with tflite-micro. Returns (ok, message, opcodes)."""
    from tinyml.interpreters import run_tflm
    from tinyml.runtimes.aot import generate
    from tinyml.runtimes.aot.host import build_runner, run_runner
    from tinyml.tflite_model import load_model

    model = load_model(model_path)
    project = generate(model_path, work / "project")
    exe = build_runner(project, work / "runner", log_path=work / "build.log", per_layer=False,
                       kernels_object=kernels_object, sanitize=sanitize)
    t = model.input_tensors[0]
    rng = np.random.default_rng(seed)
    if t.dtype == "int8":
        x = rng.integers(-128, 128, size=(samples, *t.shape), dtype=np.int8)
    else:
        x = rng.uniform(-3, 3, size=(samples, *t.shape)).astype(np.float32)
    got, _ = run_runner(exe, x.reshape(samples, -1).view(np.uint8), work,
                        output_bytes=project.output.size_bytes, sanitize=sanitize, log_path=work / "run.log")
    ref = np.ascontiguousarray(run_tflm(model_path, x)).reshape(samples, -1).view(np.uint8)
    same = (got == ref).all(axis=1)
    ops = [op.opcode for op in model.operators]
    msg = f"{model_path.stem} {ops}: {int(same.sum())}/{samples} identical"
    return bool(same.all()), msg, ops


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_single_operator_sweep(family, tmp_path, kernels_object, sweep_models):
    paths = sweep_models(family)
    results = [check_bit_exact(p, tmp_path / name, kernels_object) for name, p in paths.items()]
    failures = [msg for ok, msg, _ in results if not ok]
    assert not failures, "not bit-exact with tflite-micro:\n" + "\n".join(failures)
    seen = {op for _, _, ops in results for op in ops}
    assert EXPECTED_OPERATORS[family] <= seen, f"the {family} models no longer reach " \
        f"{sorted(EXPECTED_OPERATORS[family] - seen)}"
    print(f"{family}: {len(results)} models bit-exact: " + "; ".join(m for _, m, _ in results))


@pytest.fixture(scope="module")
def sanitized_kernels_object(tmp_path_factory) -> Path:
    from tinyml.resources import data_dir
    from tinyml.runtimes.aot.host import build_kernels_object

    d = tmp_path_factory.mktemp("kernels_sanitized")
    return build_kernels_object(data_dir("firmware_templates") / "aot" / "kernels", d / "tinyml_kernels.o",
                                sanitize=True)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_single_operator_sweep_under_the_sanitizers(family, tmp_path, sanitized_kernels_object, sweep_models):
    """Every sweep model again, built with AddressSanitizer and UBSan: run_runner raises on any
    report (out-of-bounds access, signed overflow, misaligned load, leak)."""
    paths = sweep_models(family)
    results = [check_bit_exact(p, tmp_path / name, sanitized_kernels_object, samples=3, sanitize=True)
               for name, p in paths.items()]
    failures = [msg for ok, msg, _ in results if not ok]
    assert not failures, "not bit-exact with tflite-micro:\n" + "\n".join(failures)


# The kernels' SMLAD paths (Cortex-M4) differ from the host's portable C: run
# the families with inner-product kernels on the emulated core as well.
QEMU_FAMILIES = ["conv", "depthwise", "fully_connected", "in_place"]


@pytest.mark.needs_qemu
@pytest.mark.parametrize("family", QEMU_FAMILIES)
def test_sweep_on_emulated_cortex_m4(family, tmp_path, sweep_models):
    from tinyml.interpreters import run_tflm
    from tinyml.runtimes.aot import generate, selftest
    from tinyml.tflite_model import load_model

    failures = []
    for name, path in sweep_models(family).items():
        shape = load_model(path).input_tensors[0].shape
        x = np.random.default_rng(2).integers(-128, 128, size=(3, *shape), dtype=np.int8)
        p = generate(path, tmp_path / name / "project")
        elf = selftest.build(p, x, tmp_path / name / "selftest.elf", core="cortex-m4",
                             log_path=tmp_path / name / "build.log")
        run = selftest.run(elf, core="cortex-m4", output_bytes=p.output.size_bytes, samples=3,
                           log_path=tmp_path / name / "qemu.log")
        ref = np.ascontiguousarray(run_tflm(path, x)).reshape(3, -1).view(np.uint8)
        if not (run.outputs == ref).all():
            failures.append(name)
    assert not failures, f"not bit-exact with tflite-micro on Cortex-M4: {failures}"
