"""`tinyml check` agrees with the harness firmware of each runtime: tflm takes
int8 and int16 (int16x8) tensors, several inputs and outputs (their bytes one
after the other); aot takes one int8 input and one int8 output. What a
firmware refuses, check refuses with the same sentence. (The tflm firmware
running them: tests/integration/test_tflm_models.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.boards import load_board
from tinyml.check import estimate, model_facts
from tinyml.errors import ModelError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tests.integration.tiny_models import make_io_model

    root = tmp_path_factory.mktemp("io-models")
    return {kind: make_io_model(root / f"{kind}.tflite", kind) for kind in ("int8", "int16x8", "two_outputs")}


@pytest.mark.parametrize("name,why", [("int16x8", r"input tensor .* is int16"),
                                      ("two_outputs", r"1 inputs and 2 outputs")])
def test_check_refuses_for_aot_what_its_firmware_refuses(models, name, why, tmp_path, monkeypatch):
    from tinyml.firmware import bench_samples, render_firmware

    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    board = load_board("mps2-an386")
    with pytest.raises(ModelError, match=why) as checked:
        estimate(model_facts(models[name]), board, "aot")
    samples = bench_samples(models[name], 1, seed=0)
    with pytest.raises(ModelError, match=why) as rendered:
        render_firmware(models[name], board, tmp_path / "fw", runtime="aot", samples=samples)
    assert "cannot run on the aot runtime" in checked.value.message and "--runtime tflm" in checked.value.message
    assert rendered.value.message    # both refuse the same fact (the regex); the aot lowering words it first
    assert not (tmp_path / "fw").exists()


@pytest.mark.parametrize("name", ["int8", "int16x8", "two_outputs"])
def test_tflm_takes_int16x8_and_several_outputs(models, name, tmp_path, monkeypatch):
    from tinyml.firmware import bench_samples
    from tinyml.tflite_model import load_model

    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    assert estimate(model_facts(models[name]), load_board("mps2-an386"), "tflm").fits
    model = load_model(models[name])
    samples = bench_samples(models[name], 2, seed=0)   # harness bytes: all input tensors
    assert samples.inputs.shape == (2, sum(t.nbytes for t in model.input_tensors))


def test_harness_bytes_on_the_host_are_the_output_tensors_one_after_the_other(models):
    from tinyml.emulate import host_outputs
    from tinyml.interpreters import run_tflm

    rng = np.random.default_rng(1)
    x16 = rng.integers(-3000, 3000, size=(2, 8)).astype(np.int16)
    got = host_outputs(models["int16x8"], x16.view(np.int8))
    ref = run_tflm(models["int16x8"], x16.reshape(2, 1, 8))
    assert ref.dtype == np.int16 and np.array_equal(got, ref.reshape(2, -1).view(np.int8))
    x8 = rng.integers(-128, 128, size=(2, 8)).astype(np.int8)
    both = host_outputs(models["two_outputs"], x8)
    assert both.shape == (2, 6)
