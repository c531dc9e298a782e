"""`tinyml check --runtime tflm` refuses exactly the models the firmware harness
refuses (one int8 input, one int8 output), with the same sentence, instead of
saying they fit and failing at render time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyml.boards import load_board
from tinyml.check import estimate, model_facts
from tinyml.errors import ModelError


def _convert(model, rep, path: Path, int16x8: bool) -> Path:
    from tinyml.tfcompat import tf

    t = tf()

    def gen():
        for sample in rep:
            yield [sample[None]]

    conv = t.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    if int16x8:
        conv.target_spec.supported_ops = [t.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = conv.inference_output_type = t.int16
    else:
        conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = t.int8
    path.write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tinyml.tfcompat import tf

    t = tf()
    t.keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("io-models")
    rep = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    single = t.keras.Sequential([t.keras.layers.Input((8,)), t.keras.layers.Dense(4)])
    inp = t.keras.layers.Input((8,))
    two = t.keras.Model(inp, [t.keras.layers.Dense(4)(inp), t.keras.layers.Dense(2)(inp)])
    return {"int8": _convert(single, rep, root / "int8.tflite", False),
            "int16x8": _convert(single, rep, root / "int16x8.tflite", True),
            "two_outputs": _convert(two, rep, root / "two_outputs.tflite", False)}


@pytest.mark.parametrize("name,why", [("int16x8", r"input tensor .* is int16"),
                                      ("two_outputs", r"1 inputs and 2 outputs")])
def test_check_refuses_for_tflm_what_the_firmware_refuses(models, name, why, tmp_path, monkeypatch):
    from tinyml.firmware import bench_samples, render_firmware

    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    board = load_board("mps2-an386")
    with pytest.raises(ModelError, match=why) as checked:
        estimate(model_facts(models[name]), board, "tflm")
    with pytest.raises(ModelError, match=why) as rendered:
        samples = bench_samples(models[name], 1, seed=0)
        render_firmware(models[name], board, tmp_path / "fw", runtime="tflm", samples=samples)
    # the same reason in both sentences
    reason = rendered.value.message.split(": ", 1)[1].rstrip(".")
    assert reason in checked.value.message and "cannot run on the tflm runtime" in checked.value.message
    assert not (tmp_path / "fw").exists()


def test_a_single_int8_model_still_fits(models, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    assert estimate(model_facts(models["int8"]), load_board("mps2-an386"), "tflm").fits
