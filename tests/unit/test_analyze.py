"""MAC counts checked against hand computation and the MLPerf Tiny totals."""

import pytest

from tinyml.analyze import analyze

# Totals from ../shared/BENCHMARKS.md.
TOTAL_MACS = {"ad01_int8": 264_192, "kws_ref_model": 2_656_768,
              "vww_96_int8": 7_489_664, "pretrainedResnet_quant": 12_501_632}


@pytest.mark.parametrize("name", sorted(TOTAL_MACS))
def test_total_macs(shared_models, name):
    a = analyze(shared_models / f"{name}.tflite", measure_arena=False)
    assert a.macs == TOTAL_MACS[name]


def test_hand_computed_layers(shared_models):
    kws = analyze(shared_models / "kws_ref_model.tflite", measure_arena=False)
    # conv 10x4 stride 2 SAME on 49x10x1 -> 25x5x64: 25*5*64 outputs * 10*4*1 taps
    assert kws.operators[0].macs == 25 * 5 * 64 * 10 * 4 * 1
    # depthwise 3x3 on 25x5x64: 25*5*64 * 9
    assert kws.operators[1].macs == 25 * 5 * 64 * 9
    # final dense 64 -> 12
    assert kws.operators[11].macs == 64 * 12
    ad = analyze(shared_models / "ad01_int8.tflite", measure_arena=False)
    assert ad.operators[0].macs == 640 * 128
    vww = analyze(shared_models / "vww_96_int8.tflite", measure_arena=False)
    # first conv: 3x3 stride 2 on 96x96x3 -> 48x48x8
    assert vww.operators[0].macs == 48 * 48 * 8 * 3 * 3 * 3
    ic = analyze(shared_models / "pretrainedResnet_quant.tflite", measure_arena=False)
    # first conv: 3x3 stride 1 SAME on 32x32x3 -> 32x32x16
    assert ic.operators[0].macs == 32 * 32 * 16 * 3 * 3 * 3


def test_params_and_weights_of_ad01(shared_models):
    a = analyze(shared_models / "ad01_int8.tflite", measure_arena=False)
    dense = [(640, 128), (128, 128), (128, 128), (128, 128), (128, 8),
             (8, 128), (128, 128), (128, 128), (128, 128), (128, 640)]
    params = sum(i * o + o for i, o in dense)
    assert a.params == params
    # int8 weights + int32 biases
    assert a.weight_bytes == sum(i * o + 4 * o for i, o in dense)
    assert a.opcode_counts == {"FULLY_CONNECTED": 10}


def test_arena_is_measured_and_plausible(shared_models):
    a = analyze(shared_models / "kws_ref_model.tflite")
    # two 25x5x64 int8 activations (8000 B each) must be alive together
    assert 16_000 < a.arena_bytes_tflm_host < 40_000
    assert "64-bit host" in a.arena_note


def test_live_bytes_per_op_of_kws(shared_models):
    a = analyze(shared_models / "kws_ref_model.tflite", measure_arena=False)
    # op 0 reads the 49x10 input (490 B) and writes 25x5x64 (8000 B)
    assert a.live_bytes_per_op[0] == 490 + 8000
    # the depthwise/pointwise chain keeps an input and an output of 8000 B each
    assert a.live_bytes_per_op[1:9] == [16000] * 8
    # FULLY_CONNECTED: 64 in, 12 out
    assert a.live_bytes_per_op[11] == 64 + 12
