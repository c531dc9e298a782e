"""Integer quantization math of TFLite Micro's reference kernels, in Python.

The AOT runtime must produce the same bytes as the tflite-micro interpreter,
so every parameter the kernels use (multipliers, shifts, activation ranges,
softmax scaling, lookup tables of element-wise operators) is computed here
with the same float/double steps TFLite Micro takes in its Prepare functions
(written from the TFLite quantization specification and the TFLM sources).
Float32 steps use numpy.float32 so that rounding happens where it happens in
C++; Python floats are IEEE doubles, which matches the C++ `double` steps.

The fixed-point helpers (`srdhm`, `rounding_divide_by_pot`, `exp_on_negative_values`,
...) follow gemmlowp's definitions on int32 values; they build the 256-entry
lookup tables of int8 element-wise operators (LOGISTIC, TANH, HARD_SWISH, ...),
whose output depends only on the input byte.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT8_MIN, INT8_MAX = -128, 127


# ---------------------------------------------------------------- integer helpers

def wrap32(x: int) -> int:
    """Two's-complement int32 wrap (what C int32 arithmetic does in practice)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def wrap16(x: int) -> int:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def trunc_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def round_half_away(x: float) -> float:
    """std::round for doubles: halves go away from zero (exact, no x+0.5 trick)."""
    if x != x or math.isinf(x):
        return x
    a = abs(x)
    f = math.floor(a)
    r = f + 1.0 if a - f >= 0.5 else f
    return r if x >= 0 else -r


def round_half_away_f32(x: np.float32) -> np.float32:
    """std::round / roundf on a float32 value (the result is exact in float32)."""
    return np.float32(round_half_away(float(x)))


def srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    return wrap32(trunc_div(ab + nudge, 1 << 31))


def srdhm16(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else (1 - (1 << 14))
    return wrap16(trunc_div(ab + nudge, 1 << 15))


def sdhm16(a: int, b: int) -> int:
    """TFLite's SaturatingDoublingHighMul on int16 (truncating, used by HARD_SWISH)."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    return wrap16(trunc_div(a * b, 1 << 15))


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: a right shift rounding halves away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturating_rounding_mul_by_pot(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on a `bits`-wide value."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    threshold = (1 << (bits - 1 - exponent)) - 1
    if x > threshold:
        return hi
    if x < -threshold:
        return lo
    return wrap32(x * (1 << exponent)) if bits == 32 else wrap16(x * (1 << exponent))


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (double rounding, int32 input)."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(srdhm(wrap32(x * (1 << left)), multiplier), right)


def requantize_fused(x: int, multiplier: int, shift: int) -> int:
    """multiply_by_quantized_multiplier as the C kernels compute it: for a right
    shift r the two roundings nest into floor((x*m + 2^30 - [x<0]*2^31 +
    2^(30+r)) / 2^(31+r)) on the 64-bit product (see tinyml_kernels.h)."""
    if shift >= 0:
        return multiply_by_quantized_multiplier(x, multiplier, shift)
    r = -shift
    t = x * multiplier + ((((x >> 31) | 1)) << 30) + (1 << (30 + r))
    return t >> (31 + r)


# ---------------------------------------------------------------- multipliers

def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: (int32 significand in Q31, power-of-two exponent)."""
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)
    q_fixed = int(round_half_away(q * float(1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def f32(x: float) -> np.float32:
    return np.float32(x)


def conv_per_channel_multipliers(input_scale: float, filter_scales: np.ndarray,
                                 output_scale: float, channels: int) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams: double(input)*double(filter)/double(output)."""
    mults, shifts = [], []
    per_channel = filter_scales.size > 1
    for c in range(channels):
        fs = float(np.float32(filter_scales[c] if per_channel else filter_scales[0]))
        eff = float(np.float32(input_scale)) * fs / float(np.float32(output_scale))
        m, s = quantize_multiplier(eff)
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def fc_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                   channels: int) -> tuple[list[int], list[int]]:
    """FULLY_CONNECTED: double(input) * double(filter) / double(output), as for conv.

    Older TFLite Micro sources multiply per-tensor scales in float32 first;
    the tflite-micro interpreter we are held to (pip tflite-micro) uses the
    double product, which differs in the last bits of the multiplier and so,
    rarely, in an output byte (ad01_int8 finds it).
    """
    return conv_per_channel_multipliers(input_scale, filter_scales, output_scale, channels)


def quantize_value_f32(value: float, scale: float, zero_point: int) -> int:
    """kernel_util's Quantize(): zero_point + (int)round(f / scale) in float32."""
    tmp = round_half_away_f32(f32(value) / f32(scale))
    return int(zero_point) + int(tmp)


def activation_range(activation: str, scale: float, zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for a fused activation function name.

    TFLite Micro clamps only for RELU, RELU6 and RELU_N1_TO_1; any other fused
    activation (TANH, SIGN_BIT) leaves the full range, and so do we.
    """
    if activation == "RELU":
        return max(qmin, quantize_value_f32(0.0, scale, zero_point)), qmax
    if activation == "RELU6":
        return (max(qmin, quantize_value_f32(0.0, scale, zero_point)),
                min(qmax, quantize_value_f32(6.0, scale, zero_point)))
    if activation == "RELU_N1_TO_1":
        return (max(qmin, quantize_value_f32(-1.0, scale, zero_point)),
                min(qmax, quantize_value_f32(1.0, scale, zero_point)))
    return qmin, qmax


def add_params(scale1: float, scale2: float, scale_out: float) -> dict[str, int]:
    """ADD (int8): left shift 20 and per-input multipliers below one."""
    left_shift = 20
    s1, s2, so = float(f32(scale1)), float(f32(scale2)), float(f32(scale_out))
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / (float(1 << left_shift) * so))
    return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": sh1,
            "input2_multiplier": m2, "input2_shift": sh2,
            "output_multiplier": mo, "output_shift": sho}


def add_input_table(zero_point: int, left_shift: int, multiplier: int, shift: int) -> list[int]:
    """ADD/SUB: one input's rescaled value for every byte q (index q + 128):
    MultiplyByQuantizedMultiplierSmallerThanOneExp((q - zp) << left_shift)."""
    return [multiply_by_quantized_multiplier((q - zero_point) * (1 << left_shift), multiplier, shift)
            for q in range(-128, 128)]


def sub_params(scale1: float, scale2: float, scale_out: float) -> dict[str, int]:
    """SUB (int8): like ADD, but TFLite Micro divides the scales in float32."""
    left_shift = 20
    s1, s2, so = f32(scale1), f32(scale2), f32(scale_out)
    twice_max = f32(2) * max(s1, s2)
    m1, sh1 = quantize_multiplier(float(s1 / twice_max))
    m2, sh2 = quantize_multiplier(float(s2 / twice_max))
    mo, sho = quantize_multiplier(float(twice_max / (f32(1 << left_shift) * so)))
    return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": sh1,
            "input2_multiplier": m2, "input2_shift": sh2,
            "output_multiplier": mo, "output_shift": sho}


def mul_params(scale1: float, scale2: float, scale_out: float) -> tuple[int, int]:
    real = float(f32(scale1)) * float(f32(scale2)) / float(f32(scale_out))
    return quantize_multiplier(real)


def mean_params(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """MEAN (int8): input/output rescale with 1/count folded in as TFLM does at run time."""
    mult, shift = quantize_multiplier(float(f32(input_scale)) / float(f32(output_scale)))
    if count <= 0:
        return mult, shift
    pot = count.bit_length() - 1          # 63 - CountLeadingZeros(uint64 count)
    pot = min(pot, 32, 31 + shift)
    mult = wrap32((mult << pot) // count)  # int64 division of a non-negative value
    return mult, shift - pot


def softmax_params(beta: float, input_scale: float) -> dict[str, int]:
    """SOFTMAX int8 -> int8: PreprocessSoftmaxScaling and CalculateInputRadius (Q5.26)."""
    scaled_diff_integer_bits = 5
    real = min(float(f32(beta)) * float(f32(input_scale)) * float(1 << (31 - scaled_diff_integer_bits)),
               float((1 << 31) - 1))
    mult, left_shift = quantize_multiplier(real)
    max_rescaled = (1.0 * ((1 << scaled_diff_integer_bits) - 1)
                    * float(1 << (31 - scaled_diff_integer_bits)) / float(1 << left_shift))
    diff_min = -int(math.floor(max_rescaled))
    return {"input_multiplier": mult, "input_left_shift": left_shift, "diff_min": diff_min}


# ---------------------------------------------------------------- gemmlowp fixed point

def _one(integer_bits: int) -> int:
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term = 1895147668          # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = wrap32(a + (1 << 28))           # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_mul_by_pot(x4, -2)
    poly = saturating_rounding_mul_by_pot(
        wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 given in Q(integer_bits); result in Q0.31."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_mul_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            shift = fractional_bits + exponent
            if remainder & (1 << shift):
                result = srdhm(result, multiplier)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        if a < clamp:
            result = 0
    if a == 0:
        result = INT32_MAX
    return result


def _newton_reciprocal_f2(half_denominator: int) -> int:
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))   # 48/17 - 32/17 d, Q2.29
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32((1 << 29) - half_denominator_times_x)
        x = wrap32(x + saturating_rounding_mul_by_pot(srdhm(x, one_minus), 2))
    return x


def _rounding_half_sum(a: int, b: int) -> int:
    s = a + b
    return trunc_div(s + (1 if s >= 0 else -1), 2)


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    x = _newton_reciprocal_f2(_rounding_half_sum(a, INT32_MAX))
    return saturating_rounding_mul_by_pot(x, 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    x = _newton_reciprocal_f2(_rounding_half_sum(a, INT32_MAX))
    return saturating_rounding_mul_by_pot(wrap32(x - (1 << 29)), 2)


def fixed_logistic(a: int, integer_bits: int) -> int:
    if a == 0:
        return 1 << 30
    abs_input = a if a > 0 else wrap32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_input), integer_bits))
    return positive if a > 0 else wrap32(INT32_MAX - positive)


def fixed_tanh(a: int, integer_bits: int) -> int:
    if a == 0:
        return 0
    n = a if a < 0 else wrap32(-a)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return wrap32(-t) if a < 0 else t


# ---------------------------------------------------------------- lookup tables (int8 -> int8)

def _frexp_multiplier(real: float) -> tuple[int, int]:
    """LOGISTIC/TANH Prepare: frexp without QuantizeMultiplier's corrections."""
    q, shift = math.frexp(real)
    return int(round_half_away(q * float(1 << 31))), shift


def _input_radius(integer_bits: int, left_shift: int) -> int:
    return int(math.floor(1.0 * ((1 << integer_bits) - 1) * float(1 << (31 - integer_bits))
                          / float(1 << left_shift)))


def lut_logistic(input_scale: float, input_zp: int) -> list[int]:
    mult, left_shift = _frexp_multiplier(float(f32(input_scale)) * float(1 << 27))
    radius = _input_radius(4, left_shift)
    table = []
    for q in range(-128, 128):
        x = q - input_zp
        if x <= -radius:
            table.append(INT8_MIN)
        elif x >= radius:
            table.append(INT8_MAX)
        else:
            q4 = multiply_by_quantized_multiplier(x, mult, left_shift)
            out = rounding_divide_by_pot(fixed_logistic(q4, 4), 31 - 8) - 128
            table.append(min(max(out, INT8_MIN), INT8_MAX))
    return table


def lut_tanh(input_scale: float, input_zp: int) -> list[int]:
    mult, left_shift = _frexp_multiplier(float(f32(input_scale)) * float(1 << 27))
    radius = _input_radius(4, left_shift)
    table = []
    for q in range(-128, 128):
        x = q - input_zp
        if x <= -radius:
            table.append(INT8_MIN)
        elif x >= radius:
            table.append(INT8_MAX)
        else:
            q4 = multiply_by_quantized_multiplier(x, mult, left_shift)
            out = rounding_divide_by_pot(fixed_tanh(q4, 4), 31 - 7)
            table.append(min(max(out, INT8_MIN), INT8_MAX))
    return table


def lut_relu(input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> list[int]:
    """RELU (int8): requantize then clamp at the output's zero (CalculateReluOpData)."""
    mult, shift = quantize_multiplier(float(f32(input_scale) / f32(output_scale)))
    act_min = max(INT8_MIN, int(output_zp) + int(round_half_away_f32(f32(0.0) / f32(output_scale))))
    table = []
    for q in range(-128, 128):
        v = int(output_zp) + multiply_by_quantized_multiplier(q - input_zp, mult, shift)
        table.append(min(max(v, act_min), INT8_MAX))
    return table


def lut_relu6(input_scale: float, input_zp: int) -> list[int]:
    """RELU6 (int8): TFLite Micro clamps the input bytes to [zero, six] without rescaling."""
    six = int(input_zp) + int(round_half_away(float(f32(6.0) / f32(input_scale))))
    six = min(max(six, INT8_MIN), INT8_MAX)
    zero = int(input_zp)
    return [six if q > six else zero if q < zero else q for q in range(-128, 128)]


def lut_leaky_relu(input_scale: float, input_zp: int, output_scale: float, output_zp: int,
                   alpha: float) -> list[int]:
    alpha_mult, alpha_shift = quantize_multiplier(
        float(f32(input_scale) * f32(alpha) / f32(output_scale)))
    id_mult, id_shift = quantize_multiplier(float(f32(input_scale) / f32(output_scale)))
    negative = alpha_mult < 0
    safe_alpha = -alpha_mult if negative else alpha_mult
    table = []
    for q in range(-128, 128):
        x = q - input_zp
        out = int(output_zp)
        if x >= 0:
            out += multiply_by_quantized_multiplier(x, id_mult, id_shift)
        else:
            scaled = multiply_by_quantized_multiplier(x, safe_alpha, alpha_shift)
            out += -scaled if negative else scaled
        table.append(min(max(out, INT8_MIN), INT8_MAX))
    return table


def _downscale_int32_to_int16_multiplier(m: int) -> int:
    if m >= INT32_MAX - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


def _saturating_left_shift16(value: int, amount: int) -> int:
    return min(max(value * (1 << amount), -(1 << 15)), (1 << 15) - 1)


def lut_hard_swish(input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> list[int]:
    hires_input_scale = f32(1.0 / 128.0) * f32(input_scale)
    reluish_scale = f32(3.0) / f32(32768.0)
    out_m32, out_exp = quantize_multiplier(float(hires_input_scale / f32(output_scale)))
    out_m16 = _downscale_int32_to_int16_multiplier(out_m32)
    rel_m32, rel_exp = quantize_multiplier(float(hires_input_scale / reluish_scale))
    rel_m16 = _downscale_int32_to_int16_multiplier(rel_m32)
    table = []
    for q in range(-128, 128):
        input_value = wrap16(q - input_zp)
        hires = wrap16(input_value * (1 << 7))
        preshift_output = srdhm16(hires, out_m16)
        reluish = hires
        if rel_exp > 0:
            reluish = _saturating_left_shift16(reluish, rel_exp - 1)
        reluish = srdhm16(reluish, rel_m16)
        if rel_exp > 0:
            reluish = _saturating_left_shift16(reluish, 1)
        if rel_exp < 0:
            reluish = rounding_divide_by_pot(reluish, -rel_exp)
        reluish = (reluish + (1 << 15)) >> 1
        preshift = sdhm16(reluish, preshift_output)
        out = wrap16(rounding_divide_by_pot(preshift, -out_exp) + int(output_zp))
        table.append(min(max(out, INT8_MIN), INT8_MAX))
    return table


def lut_requantize(input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> list[int]:
    """QUANTIZE int8 -> int8 (Requantize with double(input)/double(output))."""
    mult, shift = quantize_multiplier(float(f32(input_scale)) / float(f32(output_scale)))
    return [min(max(multiply_by_quantized_multiplier(q - input_zp, mult, shift) + int(output_zp),
                    INT8_MIN), INT8_MAX) for q in range(-128, 128)]


def lut_dequantize(scale: float, zero_point: int) -> list[float]:
    """DEQUANTIZE int8 -> float32: static_cast<float>(double(scale) * (q - zp))."""
    s = float(f32(scale))
    return [float(np.float32(s * (q - zero_point))) for q in range(-128, 128)]
