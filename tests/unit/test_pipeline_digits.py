"""train -> prune -> quantize on digits, the way the README runs it."""

import json

import numpy as np
import pytest

from tinyml.data import DatasetSpec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    from tinyml.prune import prune
    from tinyml.quantize import quantize
    from tinyml.train import train

    build = tmp_path_factory.mktemp("digits")
    trained = train(build, "digits_cnn", DatasetSpec(kind="digits", seed=0), epochs=30, seed=0)
    pruned = prune(build, sparsity=0.5, fine_tune_epochs=3, seed=0)
    quantized = quantize(build)
    return build, trained, pruned, quantized


def test_float_accuracy_at_least_95(digits_build):
    _, trained, _, _ = digits_build
    assert trained.metrics["accuracy"] >= 0.95
    assert trained.metrics["test_samples"] == 360


def test_pruning_reaches_target_per_layer(digits_build):
    _, _, pruned, _ = digits_build
    m = pruned.metrics
    assert m["achieved_sparsity"] == pytest.approx(0.5, abs=0.01)
    for name, layer in m["layers"].items():
        assert layer["pruned"]
        assert layer["sparsity"] == pytest.approx(0.5, abs=0.02), name
    assert m["after"]["accuracy"] >= 0.93


def test_int8_within_two_points_of_float(digits_build):
    build, _, _, quantized = digits_build
    m = quantized.metrics
    assert m["source"].endswith("optimized.keras")
    assert abs(m["int8_tflite"]["accuracy"] - m["keras"]["accuracy"]) <= 0.02
    from tinyml.tflite_model import load_model
    model = load_model(quantized.model_path)
    assert model.input_tensors[0].dtype == "int8" and model.output_tensors[0].dtype == "int8"
    assert all(model.tensor(op.inputs[1]).dtype == "int8" for op in model.operators
               if op.opcode in ("CONV_2D", "FULLY_CONNECTED"))
    # the held-out samples later stages emulate on
    held = np.load(build / "model" / "heldout.npz")
    assert held["x"].shape == (360, 8, 8, 1) and held["y"].shape == (360,)
    assert json.loads((build / "quantize" / "metrics.json").read_text())["int8_tflite"] == m["int8_tflite"]


def test_int8_accuracy_matches_tflite_micro(digits_build):
    """quantize reports the TFLM reference accuracy next to LiteRT's.

    LiteRT's int8 SOFTMAX is not bit-identical to TFLM's (a few outputs differ
    by several LSB), so both are recorded; they agree on the accuracy here.
    """
    build, _, _, quantized = digits_build
    from tinyml.interpreters import run_litert, run_tflm
    from tinyml.quantize import quantize_array
    held = np.load(build / "model" / "heldout.npz")
    inp = quantized.metrics["input"]
    q = quantize_array(held["x"], inp["scale"], inp["zero_point"])
    micro, lite = run_tflm(quantized.model_path, q), run_litert(quantized.model_path, q)
    assert np.mean(micro == lite) > 0.9
    micro_acc = float(np.mean(np.argmax(micro, axis=1) == held["y"]))
    lite_acc = float(np.mean(np.argmax(lite, axis=1) == held["y"]))
    assert micro_acc == pytest.approx(quantized.metrics["int8_tflm"]["accuracy"])
    assert lite_acc == pytest.approx(quantized.metrics["int8_tflite"]["accuracy"])
    assert abs(micro_acc - lite_acc) <= 0.01


def test_same_seed_same_artifacts(digits_build, tmp_path):
    from tinyml.train import train
    build, _, _, _ = digits_build
    again = train(tmp_path, "digits_cnn", DatasetSpec(kind="digits", seed=0), epochs=30, seed=0)
    assert again.model_path.read_bytes() == (build / "model" / "float.keras").read_bytes()


def test_quantize_input_rounding():
    from tinyml.quantize import quantize_array
    # half away from zero, like TFLite's QUANTIZE; clamped to int8
    got = quantize_array(np.array([0.5, -0.5, 1.5, 2.5, 1000.0, -1000.0]), 1.0, 0)
    assert got.tolist() == [1, -1, 2, 3, 127, -128]
