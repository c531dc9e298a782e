"""`tinyml verify`: output, JSON, exit codes, per-layer localisation, datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyml.cli import main

pytestmark = pytest.mark.needs_toolchain


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_verify_json_reports_agreement_and_arena(shared_models, tmp_path, capsys):
    code, out, err = _run(["verify", str(shared_models / "kws_ref_model.tflite"), "--runtime", "aot",
                           "-n", "20", "--seed", "3", "-B", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    tflm, litert = data["agreements"]
    assert (tflm["reference"], tflm["identical_samples"], tflm["samples"]) == ("tflite-micro", 20, 20)
    assert tflm["mismatched_bytes"] == 0 and tflm["max_abs_diff"] == 0
    assert litert["reference"] == "litert" and litert["samples"] == 20
    assert data["arena_bytes"] <= data["tflm_arena_bytes"]
    assert data["output"]["shape"] == [1, 12]
    report = tmp_path / "verify" / "kws_ref_model-aot.json"
    assert json.loads(report.read_text())["agreements"][0]["identical_samples"] == 20
    # the build artifacts stay under the build directory
    assert (tmp_path / "verify" / "kws_ref_model-aot" / "project" / "model.c").is_file()
    assert (tmp_path / "verify" / "kws_ref_model-aot" / "build.log").is_file()


def test_verify_human_output(shared_models, tmp_path, capsys):
    code, out, err = _run(["verify", str(shared_models / "ad01_int8.tflite"), "-n", "5", "-B", str(tmp_path)],
                          capsys)
    assert code == 0, err
    assert "tflite-micro" in out and "5/5" in out and "arena" in out


def test_mismatch_exits_1_and_per_layer_names_the_operator(shared_models, tmp_path, capsys, monkeypatch):
    import tinyml.interpreters as interpreters
    import tinyml.verify as verify_mod

    real_run_tflm = interpreters.run_tflm
    real_intermediates = verify_mod._tflm_intermediates

    def off_by_one(model_path, inputs):
        out = np.array(real_run_tflm(model_path, inputs))
        out[1, 3] = np.int8(int(out[1, 3]) ^ 1)
        return out

    def layer_two_differs(model_path, inputs, tensors):
        layers = real_intermediates(model_path, inputs, tensors)
        b = bytearray(layers[1][2])
        b[0] ^= 1
        layers[1][2] = bytes(b)
        return layers

    monkeypatch.setattr(interpreters, "run_tflm", off_by_one)
    monkeypatch.setattr(verify_mod, "_tflm_intermediates", layer_two_differs)
    code, out, err = _run(["verify", str(shared_models / "pretrainedResnet_quant.tflite"), "-n", "3",
                           "--per-layer", "-B", str(tmp_path)], capsys)
    assert code == 1
    assert "differs from tflite-micro on 1 of 3 inputs" in err
    assert "the first operator that differs is 2 (CONV_2D, tensor 24)" in err
    assert "first operator that differs: 2 (CONV_2D)" in out
    data = json.loads((tmp_path / "verify" / "pretrainedResnet_quant-aot.json").read_text())
    assert data["first_differing_op"]["op_index"] == 2
    assert data["agreements"][0]["first_mismatch_sample"] == 1


def test_unsupported_model_is_one_sentence(tmp_path, capsys, shared_models, monkeypatch):
    from tinyml.runtimes.aot import ops

    monkeypatch.delitem(ops.LOWERINGS, "AVERAGE_POOL_2D")
    code, out, err = _run(["verify", str(shared_models / "kws_ref_model.tflite"), "-B", str(tmp_path)], capsys)
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith("error: kws_ref_model.tflite: operator 9 (AVERAGE_POOL_2D)")
    assert "supported by the tflm runtime" in first


def test_corrupt_model(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    code, _, err = _run(["verify", str(bad), "-B", str(tmp_path)], capsys)
    assert code == 2 and "not a TFLite flatbuffer" in err


@pytest.mark.slow
def test_verify_with_dataset_samples(tmp_path):
    """--dataset feeds quantized held-out samples (digits, 8x8x1) instead of random bytes."""
    import contextlib
    import io

    import keras
    import tensorflow as tf

    from tinyml.verify import verify

    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 1), batch_size=1)
    y = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(
        keras.layers.Conv2D(4, 3, activation="relu")(x)))
    model = keras.Model(x, y)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.random.rand(1, 8, 8, 1).astype(np.float32)] for _ in range(16))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        path = tmp_path / "digits.tflite"
        path.write_bytes(conv.convert())
    result = verify(path, tmp_path / "build", samples=30, dataset="digits")
    assert result.inputs == "dataset digits" and result.samples == 30
    assert result.agreements[0].identical_samples == 30
    inputs = np.fromfile(tmp_path / "build" / "verify" / "digits-aot" / "inputs.bin", dtype=np.int8)
    assert len(np.unique(inputs)) < 40  # quantized pixel values, not uniform random bytes


def test_verify_with_the_default_relative_build_directory(shared_models, tmp_path, capsys, monkeypatch):
    """No -B: the default build/default, relative to the working directory (gcc runs elsewhere)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["verify", str(shared_models / "ad01_int8.tflite"), "--runtime", "aot", "-n", "3",
                           "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["agreements"][0]["identical_samples"] == 3
    assert (tmp_path / "build" / "default" / "verify" / "ad01_int8-aot" / "runner").is_file()
