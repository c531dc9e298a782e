"""Quantization math of the aot runtime, against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinyml.runtimes.aot import quant


@pytest.mark.parametrize("real, expected", [
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.25, (1 << 30, -1)),
    (0.75, (1610612736, 0)),
    (3.0, (1610612736, 2)),
    (0.0, (0, 0)),
    (2.0 ** -40, (0, 0)),            # below 2^-31: flushed to zero like TFLite
    (1.0 - 2.0 ** -40, (1 << 30, 1)),  # significand rounds up to 2^31: halved, shift + 1
])
def test_quantize_multiplier(real, expected):
    assert quant.quantize_multiplier(real) == expected


def test_rounding_divide_by_pot_rounds_halves_away_from_zero():
    assert [quant.rounding_divide_by_pot(x, 1) for x in (5, -5, 4, -4, 3, -3)] == [3, -3, 2, -2, 2, -2]
    assert quant.rounding_divide_by_pot(-6, 2) == -2   # -1.5
    assert quant.rounding_divide_by_pot(5, 2) == 1     # 1.25


def test_srdhm_rounds_halves_up_and_saturates():
    half = 1 << 30                                       # 0.5 in Q31
    assert quant.srdhm(3, half) == 2                     # 1.5 -> 2
    assert quant.srdhm(-3, half) == -1                   # -1.5 -> -1
    assert quant.srdhm(quant.INT32_MIN, quant.INT32_MIN) == quant.INT32_MAX


def test_multiply_by_quantized_multiplier_double_rounding():
    # 5 * 0.25: the high multiply rounds 2.5 up to 3, then 3 / 2 rounds to 2.
    # A single rounding would give 1; TFLite Micro's double rounding gives 2.
    m, s = quant.quantize_multiplier(0.25)
    assert quant.multiply_by_quantized_multiplier(5, m, s) == 2
    m, s = quant.quantize_multiplier(0.5)
    assert quant.multiply_by_quantized_multiplier(100, m, s) == 50
    m, s = quant.quantize_multiplier(3.0)
    assert quant.multiply_by_quantized_multiplier(7, m, s) == 21


def test_fused_requantization_equals_double_rounding():
    """The C kernels' one-step requantization (tinyml_kernels.h) against TFLite's two steps."""
    import random

    rng = random.Random(5)
    xs = [0, 1, -1, 2, -2, 3, -3, 5, -5, 88337, -88337, 2 ** 31 - 1, -2 ** 31, 2 ** 20, -2 ** 20]
    ms = [0, 1, 2 ** 30, 2 ** 30 + 1, 2 ** 31 - 1, 715827882, 1462485049]
    cases = [(x, m, s) for x in xs for m in ms for s in range(-31, 3)]
    cases += [(rng.randint(-2 ** 24, 2 ** 24), rng.randint(0, 2 ** 31 - 1), rng.randint(-31, 0))
              for _ in range(100_000)]
    cases += [(rng.randint(-2 ** 31, 2 ** 31 - 1), rng.randint(0, 2 ** 31 - 1), rng.randint(-31, 0))
              for _ in range(20_000)]
    bad = [(x, m, s) for x, m, s in cases
           if quant.requantize_fused(x, m, s) != quant.multiply_by_quantized_multiplier(x, m, s)]
    assert not bad, bad[:5]


def test_activation_ranges():
    assert quant.activation_range("RELU6", 0.05, -10) == (-10, 110)
    assert quant.activation_range("RELU", 0.1, -128) == (-128, 127)
    assert quant.activation_range("RELU", 0.1, 5) == (5, 127)
    assert quant.activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    # TFLite Micro does not clamp for a fused TANH: the full range stays.
    assert quant.activation_range("TANH", 0.01, 0) == (-128, 127)
    assert quant.activation_range("NONE", 0.01, 3) == (-128, 127)


def test_mean_folds_one_over_count_into_the_multiplier():
    mult, shift = quant.mean_params(0.1, 0.1, 25)
    # 1.0 -> (2^30, 1); floor(log2 25) = 4 bits move into the multiplier.
    assert (mult, shift) == ((1 << 30 << 4) // 25, 1 - 4)
    assert quant.multiply_by_quantized_multiplier(250, mult, shift) == 10   # mean of 25 tens
    # -10.48: the high multiply gives -83.84 -> -84, then -84 / 8 = -10.5 rounds away: -11.
    assert quant.multiply_by_quantized_multiplier(-262, mult, shift) == -11


def test_softmax_params():
    p = quant.softmax_params(1.0, 1.0 / 16)
    # beta * scale * 2^26 = 2^22 -> multiplier 0.5 * 2^31, left shift 23
    assert p == {"input_multiplier": 1 << 30, "input_left_shift": 23, "diff_min": -248}


def test_add_params_left_shift_and_ratios():
    p = quant.add_params(0.02, 0.01, 0.04)
    assert p["left_shift"] == 20
    assert (p["input1_multiplier"], p["input1_shift"]) == quant.quantize_multiplier(0.5)
    assert (p["input2_multiplier"], p["input2_shift"]) == quant.quantize_multiplier(0.25)
    assert (p["output_multiplier"], p["output_shift"]) == quant.quantize_multiplier(0.04 / (2 ** 20 * 0.04))


def test_conv_and_fc_multipliers_use_double_products():
    s_in, s_w, s_out = 0.0123, 0.00456, 0.0789
    exact = float(np.float32(s_in)) * float(np.float32(s_w)) / float(np.float32(s_out))
    want = quant.quantize_multiplier(exact)
    conv = quant.conv_per_channel_multipliers(s_in, np.array([s_w], np.float32), s_out, 2)
    assert conv == ([want[0]] * 2, [want[1]] * 2)
    assert quant.fc_multipliers(s_in, np.array([s_w], np.float32), s_out, 1) == ([want[0]], [want[1]])


def test_fc_multiplier_of_ad01_last_layer(shared_models):
    """Found by verify: with the float32 product of the scales the multiplier is
    1462485078 and an accumulator of -88337 gives -118; tflite-micro gives -117."""
    from tinyml.tflite_model import load_model

    m = load_model(shared_models / "ad01_int8.tflite")
    op = m.operators[9]
    inp, w, out = m.tensor(op.inputs[0]), m.tensor(op.inputs[1]), m.tensor(op.outputs[0])
    mult, shift = quant.fc_multipliers(float(inp.scale[0]), w.scale, float(out.scale[0]), 1)
    assert (mult[0], shift[0]) == (1462485049, -9)
    assert quant.multiply_by_quantized_multiplier(-88337, mult[0], shift[0]) == -117


def test_lut_relu6_clamps_bytes_between_zero_and_six():
    table = quant.lut_relu6(0.1, -20)   # six = -20 + 60 = 40
    assert table[:108] == [-20] * 108   # q < -20
    assert table[128 + 10] == 10
    assert table[128 + 40:] == [40] * (128 - 40)


def test_lut_logistic_and_tanh_follow_the_functions():
    scale, zp = 0.05, 3
    logistic, tanh = quant.lut_logistic(scale, zp), quant.lut_tanh(scale, zp)
    for q in range(-128, 128):
        x = scale * (q - zp)
        assert abs(logistic[q + 128] - (256 / (1 + math.exp(-x)) - 128)) <= 1.0
        assert abs(tanh[q + 128] - 128 * math.tanh(x)) <= 1.0
    assert logistic[zp + 128] == 0 and tanh[zp + 128] == 0
    assert all(a <= b for a, b in zip(logistic, logistic[1:]))


def test_lut_hard_swish_and_leaky_relu():
    s_in, z_in, s_out, z_out = 0.05, -2, 0.04, -50
    hs = quant.lut_hard_swish(s_in, z_in, s_out, z_out)
    lr = quant.lut_leaky_relu(s_in, z_in, s_out, z_out, 0.2)
    for q in range(-128, 128):
        x = s_in * (q - z_in)
        want_hs = min(max(round(x * min(max(x + 3, 0), 6) / 6 / s_out) + z_out, -128), 127)
        want_lr = min(max(round((x if x >= 0 else 0.2 * x) / s_out) + z_out, -128), 127)
        assert abs(hs[q + 128] - want_hs) <= 2
        assert abs(lr[q + 128] - want_lr) <= 1


def test_exp_on_negative_values():
    # Q5.26 input: exp(-1), exp(-4.5) and exp(0) in Q0.31
    for x in (-1.0, -4.5, -0.1):
        raw = quant.exp_on_negative_values(int(x * (1 << 26)), 5)
        assert abs(raw / 2 ** 31 - math.exp(x)) < 1e-6
    assert quant.exp_on_negative_values(0, 5) == quant.INT32_MAX


def test_dequantize_table_is_float32_of_double_product():
    table = quant.lut_dequantize(0.1, 5)
    assert table[128 + 15] == float(np.float32(float(np.float32(0.1)) * 10))
    assert table[128 + 5] == 0.0
