"""Tiny int8 models made with TensorFlow for the firmware tests (seconds to convert)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _int_converter(t, model, rep: np.ndarray):
    """A TFLite converter for post-training integer quantization, `rep` its representative data."""
    rep = rep.astype(np.float32)

    def gen():
        for sample in rep:
            yield [sample[None]]

    conv = t.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    return conv


def make_tiny_cnn(path: Path, seed: int = 0) -> Path:
    """8x8x1 -> CONV_2D(4, 3x3, relu) -> MAX_POOL_2D -> DEPTHWISE_CONV_2D -> FULLY_CONNECTED(10) -> SOFTMAX, int8."""
    from tinyml.tfcompat import tf

    t = tf()
    t.keras.utils.set_random_seed(seed)
    keras = t.keras
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.DepthwiseConv2D(3, padding="valid", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
        keras.layers.Softmax(),
    ])
    conv = _int_converter(t, model, np.random.default_rng(seed).normal(size=(32, 8, 8, 1)))
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = t.int8
    conv.inference_output_type = t.int8
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(conv.convert())
    return path


def write_heldout(path: Path, count: int, seed: int = 1) -> Path:
    """A held-out split in the shape the train stage writes (x float32, y int64)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=count).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    return path


def make_tiny_dense(path: Path, size: int = 4, seed: int = 0) -> Path:
    """size -> FULLY_CONNECTED(size), int8: a model with a `size`-byte input for the C fixtures."""
    from tinyml.tfcompat import tf

    t = tf()
    t.keras.utils.set_random_seed(seed)
    model = t.keras.Sequential([t.keras.layers.Input((size,)), t.keras.layers.Dense(size)])
    conv = _int_converter(t, model, np.random.default_rng(seed).normal(size=(16, size)))
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = t.int8
    conv.inference_output_type = t.int8
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(conv.convert())
    return path


def make_io_model(path: Path, kind: str, seed: int = 0) -> Path:
    """8 -> Dense(4) as "int8" or "int16x8" (int16 activations and I/O, int8
    weights), or "two_outputs": 8 -> Dense(4), Dense(2), int8."""
    from tinyml.tfcompat import tf

    t = tf()
    t.keras.utils.set_random_seed(seed)
    if kind == "two_outputs":
        inp = t.keras.layers.Input((8,))
        model = t.keras.Model(inp, [t.keras.layers.Dense(4)(inp), t.keras.layers.Dense(2)(inp)])
    else:
        model = t.keras.Sequential([t.keras.layers.Input((8,)), t.keras.layers.Dense(4)])
    conv = _int_converter(t, model, np.random.default_rng(seed).normal(size=(16, 8)))
    if kind == "int16x8":
        conv.target_spec.supported_ops = [t.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = conv.inference_output_type = t.int16
        # CMSIS-NN's int16 FULLY_CONNECTED takes per-tensor weights only (TFLM's
        # cmsis_nn/fully_connected.cc refuses per-channel int16x8 in Prepare).
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    else:
        conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = t.int8
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(conv.convert())
    return path


def cached(tmp_path_factory, name: str, maker) -> Path:
    """One conversion per test session (each xdist worker has its own base temp), shared by modules."""
    path = tmp_path_factory.getbasetemp() / "tinyml-test-models" / name
    if not path.exists():
        maker(path)
    return path


FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "loop_model"


def tiny_build_dir(tmp_path_factory, heldout: int) -> Path:
    """A build directory as the pipeline leaves it: quantize/model.tflite (the tiny CNN) + model/heldout.npz."""
    import shutil

    model = cached(tmp_path_factory, "tiny_cnn.tflite", make_tiny_cnn)
    build = tmp_path_factory.mktemp("tiny-build")
    (build / "quantize").mkdir()
    shutil.copy(model, build / "quantize" / "model.tflite")
    write_heldout(build / "model" / "heldout.npz", heldout)
    return build


def install_fixture_runtime(monkeypatch, loops: int = 100000) -> str:
    """Register the C test fixture of fixtures/loop_model as runtime "fixture" (a 4-byte model)."""
    import shutil

    from tinyml import firmware as fw

    def sources(model_path, project, source_name, **_):
        (project / "model").mkdir(parents=True, exist_ok=True)
        for name in ("model.h", "model.c"):
            shutil.copy(FIXTURE_DIR / name, project / "model" / name)
        return fw.ModelSources(
            sources=["model/model.c"], include_dirs=["model"],
            defines=["-DTINYML_HOOKS_FILE='\"tinyml_hooks.h\"'", f"-DFIXTURE_LOOPS={loops}u"],
            header="model.h", model_sources=["model/model.c"], runtime_sources=[], arena_bytes=0,
            weights_bytes=0, input_bytes=4, output_bytes=4, operators=["LOOP", "HALF_LOOP"])

    monkeypatch.setitem(fw.RUNTIME_SOURCES, "fixture", sources)
    return "fixture"
