/* tinyml AOT runtime: int8 kernels. See tinyml_kernels.h for the contract. */
#include "tinyml_kernels.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && !defined(TINYML_PORTABLE_ONLY)
#define TINYML_USE_DSP 1
#include <arm_acle.h>
#else
#define TINYML_USE_DSP 0
#endif

#define TINYML_OUT(acc, p_mult, p_shift, zp, lo, hi) \
    ((int8_t)tinyml_clamp(tinyml_requantize((acc), (p_mult), (p_shift)) + (zp), (lo), (hi)))

/* ------------------------------------------------------------------ inner products */

#if TINYML_USE_DSP
/* Four int8 lanes of a word as two pairs of int16: even lanes and odd lanes.
 * Pairing the same split of both operands keeps the products aligned. */
TINYML_INLINE uint32_t tinyml_read_u32(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Rotate right by 8 (one ROR instruction); GCC 12's arm_acle.h lacks __ror. */
TINYML_INLINE uint32_t tinyml_ror8(uint32_t v) {
    return (v >> 8) | (v << 24);
}
#endif

/* sum(a[i] * b[i]) + acc over n int8 values. */
TINYML_INLINE int32_t tinyml_dot_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t acc) {
    int32_t i = 0;
#if TINYML_USE_DSP
    for (; i + 4 <= n; i += 4) {
        const uint32_t va = tinyml_read_u32(a + i);
        const uint32_t vb = tinyml_read_u32(b + i);
        acc = __smlad(__sxtb16(va), __sxtb16(vb), acc);
        acc = __smlad(__sxtb16(tinyml_ror8(va)), __sxtb16(tinyml_ror8(vb)), acc);
    }
#else
    for (; i + 4 <= n; i += 4) {
        acc += (int32_t)a[i] * b[i];
        acc += (int32_t)a[i + 1] * b[i + 1];
        acc += (int32_t)a[i + 2] * b[i + 2];
        acc += (int32_t)a[i + 3] * b[i + 3];
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)a[i] * b[i];
    }
    return acc;
}

/* Two rows of weights against one vector: the vector is read once. */
TINYML_INLINE void tinyml_dot2_s8(const int8_t *a, const int8_t *w0, const int8_t *w1, int32_t n,
                                  int32_t *acc0, int32_t *acc1) {
    int32_t s0 = *acc0;
    int32_t s1 = *acc1;
    int32_t i = 0;
#if TINYML_USE_DSP
    for (; i + 4 <= n; i += 4) {
        const uint32_t va = tinyml_read_u32(a + i);
        const uint32_t a_even = __sxtb16(va);
        const uint32_t a_odd = __sxtb16(tinyml_ror8(va));
        const uint32_t v0 = tinyml_read_u32(w0 + i);
        const uint32_t v1 = tinyml_read_u32(w1 + i);
        s0 = __smlad(a_even, __sxtb16(v0), s0);
        s0 = __smlad(a_odd, __sxtb16(tinyml_ror8(v0)), s0);
        s1 = __smlad(a_even, __sxtb16(v1), s1);
        s1 = __smlad(a_odd, __sxtb16(tinyml_ror8(v1)), s1);
    }
#else
    for (; i + 4 <= n; i += 4) {
        const int32_t x0 = a[i], x1 = a[i + 1], x2 = a[i + 2], x3 = a[i + 3];
        s0 += x0 * w0[i] + x1 * w0[i + 1] + x2 * w0[i + 2] + x3 * w0[i + 3];
        s1 += x0 * w1[i] + x1 * w1[i + 1] + x2 * w1[i + 2] + x3 * w1[i + 3];
    }
#endif
    for (; i < n; ++i) {
        s0 += (int32_t)a[i] * w0[i];
        s1 += (int32_t)a[i] * w1[i];
    }
    *acc0 = s0;
    *acc1 = s1;
}

/* One output pixel of a conv / fully connected layer: every output channel
 * against the same input vector (a patch or a row). */
static void tinyml_matvec_s8(const int8_t *x, int32_t depth, const int8_t *weights,
                             int32_t out_depth, const int32_t *bias, const int32_t *mult,
                             const int32_t *shift, int32_t out_zp, int32_t act_min,
                             int32_t act_max, int8_t *out) {
    int32_t oc = 0;
    const int8_t *w = weights;
    for (; oc + 2 <= out_depth; oc += 2) {
        int32_t acc0 = bias[oc];
        int32_t acc1 = bias[oc + 1];
        tinyml_dot2_s8(x, w, w + depth, depth, &acc0, &acc1);
        out[oc] = TINYML_OUT(acc0, mult[oc], shift[oc], out_zp, act_min, act_max);
        out[oc + 1] = TINYML_OUT(acc1, mult[oc + 1], shift[oc + 1], out_zp, act_min, act_max);
        w += 2 * depth;
    }
    if (oc < out_depth) {
        const int32_t acc = tinyml_dot_s8(x, w, depth, bias[oc]);
        out[oc] = TINYML_OUT(acc, mult[oc], shift[oc], out_zp, act_min, act_max);
    }
}

/* ------------------------------------------------------------------ CONV_2D */

int32_t tinyml_conv2d_scratch_bytes(const tinyml_conv_params *p) {
    if (p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0) {
        return 0;
    }
    return p->k_h * p->k_w * p->in_c;
}

void tinyml_conv2d_s8(const tinyml_conv_params *p, const int8_t *input, int8_t *output,
                      int8_t *scratch) {
    const int32_t depth = p->k_h * p->k_w * p->in_c;
    const int32_t pointwise = tinyml_conv2d_scratch_bytes(p) == 0;
    const int32_t row_bytes = p->in_w * p->in_c;
    int32_t b, oy, ox, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * row_bytes;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int8_t *patch;
                if (pointwise) {
                    patch = in_b + iy0 * row_bytes + ix0 * p->in_c;
                } else {
                    /* im2col: taps outside the image hold the input zero point,
                     * which the folded bias turns into a zero contribution. */
                    int8_t *dst = scratch;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dil_h;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dil_w;
                            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                                memcpy(dst, in_b + iy * row_bytes + ix * p->in_c, (size_t)p->in_c);
                            } else {
                                memset(dst, (int)(int8_t)p->input_zp, (size_t)p->in_c);
                            }
                            dst += p->in_c;
                        }
                    }
                    patch = scratch;
                }
                tinyml_matvec_s8(patch, depth, p->weights, p->out_c, p->bias, p->multiplier,
                                 p->shift, p->output_zp, p->act_min, p->act_max,
                                 output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c);
            }
        }
    }
}

/* ------------------------------------------------------------------ DEPTHWISE_CONV_2D */

void tinyml_depthwise_conv2d_s8(const tinyml_depthwise_params *p, const int8_t *input,
                                int8_t *output) {
    const int32_t dm = p->depth_multiplier;
    const int32_t in_row = p->in_w * p->in_c;
    const int32_t tap_dy = p->dil_h * in_row;
    const int32_t tap_dx = p->dil_w * p->in_c;
    const int32_t w_row = p->k_w * p->out_c;
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * in_row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            /* Valid taps form a contiguous range: iy0 + ky*dil in [0, in_h). */
            int32_t ky0 = 0, ky1 = p->k_h;
            while (ky0 < ky1 && iy0 + ky0 * p->dil_h < 0) ++ky0;
            while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dil_h >= p->in_h) --ky1;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                int32_t kx0 = 0, kx1 = p->k_w;
                while (kx0 < kx1 && ix0 + kx0 * p->dil_w < 0) ++kx0;
                while (kx1 > kx0 && ix0 + (kx1 - 1) * p->dil_w >= p->in_w) --kx1;
                if (ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w) {
                    const int8_t *x_base = in_b + iy0 * in_row + ix0 * p->in_c;
                    if (dm == 1 && p->k_h == 3 && p->k_w == 3) {
                        for (ic = 0; ic < p->in_c; ++ic) {
                            const int8_t *x = x_base + ic;
                            const int8_t *w = p->weights + ic;
                            int32_t acc = p->bias_folded[ic];
                            acc += x[0] * w[0] + x[tap_dx] * w[p->out_c] +
                                   x[2 * tap_dx] * w[2 * p->out_c];
                            x += tap_dy;
                            w += w_row;
                            acc += x[0] * w[0] + x[tap_dx] * w[p->out_c] +
                                   x[2 * tap_dx] * w[2 * p->out_c];
                            x += tap_dy;
                            w += w_row;
                            acc += x[0] * w[0] + x[tap_dx] * w[p->out_c] +
                                   x[2 * tap_dx] * w[2 * p->out_c];
                            out[ic] = TINYML_OUT(acc, p->multiplier[ic], p->shift[ic], p->output_zp,
                                                 p->act_min, p->act_max);
                        }
                        continue;
                    }
                    for (ic = 0; ic < p->in_c; ++ic) {
                        for (m = 0; m < dm; ++m) {
                            const int32_t oc = ic * dm + m;
                            int32_t acc = p->bias_folded[oc];
                            for (ky = 0; ky < p->k_h; ++ky) {
                                const int8_t *x = x_base + ky * tap_dy + ic;
                                const int8_t *w = p->weights + ky * w_row + oc;
                                for (kx = 0; kx < p->k_w; ++kx) {
                                    acc += (int32_t)x[kx * tap_dx] * w[kx * p->out_c];
                                }
                            }
                            out[oc] = TINYML_OUT(acc, p->multiplier[oc], p->shift[oc], p->output_zp,
                                                 p->act_min, p->act_max);
                        }
                    }
                } else {
                    /* A window clipped by padding: only valid taps, with the offset. */
                    for (ic = 0; ic < p->in_c; ++ic) {
                        for (m = 0; m < dm; ++m) {
                            const int32_t oc = ic * dm + m;
                            int32_t acc = p->bias[oc];
                            for (ky = ky0; ky < ky1; ++ky) {
                                const int8_t *x = in_b + (iy0 + ky * p->dil_h) * in_row + ic;
                                const int8_t *w = p->weights + ky * w_row + oc;
                                for (kx = kx0; kx < kx1; ++kx) {
                                    acc += ((int32_t)x[(ix0 + kx * p->dil_w) * p->in_c] +
                                            p->input_offset) * w[kx * p->out_c];
                                }
                            }
                            out[oc] = TINYML_OUT(acc, p->multiplier[oc], p->shift[oc], p->output_zp,
                                                 p->act_min, p->act_max);
                        }
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ FULLY_CONNECTED */

void tinyml_fully_connected_s8(const tinyml_fc_params *p, const int8_t *input, int8_t *output) {
    int32_t b;
    for (b = 0; b < p->batches; ++b) {
        tinyml_matvec_s8(input + b * p->in_depth, p->in_depth, p->weights, p->out_depth, p->bias,
                         p->multiplier, p->shift, p->output_zp, p->act_min, p->act_max,
                         output + b * p->out_depth);
    }
}

/* ------------------------------------------------------------------ pooling */

void tinyml_avg_pool_s8(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
    const int32_t c_n = p->channels;
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * c_n;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t y0 = iy0 < 0 ? 0 : iy0;
            const int32_t y1 = iy0 + p->k_h < p->in_h ? iy0 + p->k_h : p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t x0 = ix0 < 0 ? 0 : ix0;
                const int32_t x1 = ix0 + p->k_w < p->in_w ? ix0 + p->k_w : p->in_w;
                const int32_t count = (y1 - y0) * (x1 - x0);
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * c_n;
                for (c = 0; c < c_n; ++c) {
                    int32_t acc = 0;
                    for (y = y0; y < y1; ++y) {
                        const int8_t *row = in_b + (y * p->in_w) * c_n + c;
                        for (x = x0; x < x1; ++x) {
                            acc += row[x * c_n];
                        }
                    }
                    /* Round half away from zero, as TFLite does (C division truncates). */
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    out[c] = (int8_t)tinyml_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tinyml_max_pool_s8(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
    const int32_t c_n = p->channels;
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * c_n;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t y0 = iy0 < 0 ? 0 : iy0;
            const int32_t y1 = iy0 + p->k_h < p->in_h ? iy0 + p->k_h : p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t x0 = ix0 < 0 ? 0 : ix0;
                const int32_t x1 = ix0 + p->k_w < p->in_w ? ix0 + p->k_w : p->in_w;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * c_n;
                for (c = 0; c < c_n; ++c) {
                    int32_t best = -128;
                    for (y = y0; y < y1; ++y) {
                        const int8_t *row = in_b + (y * p->in_w) * c_n + c;
                        for (x = x0; x < x1; ++x) {
                            const int32_t v = row[x * c_n];
                            best = v > best ? v : best;
                        }
                    }
                    out[c] = (int8_t)tinyml_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ SOFTMAX */

/* gemmlowp fixed-point pieces TFLite's int8 softmax is built from. Values are
 * raw int32 with an implied number of integer bits noted in the comments. */

static int32_t tinyml_fp_mul(int32_t a, int32_t b) {
    /* SaturatingRoundingDoublingHighMul, including the saturating case. */
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    {
        const int64_t ab = (int64_t)a * (int64_t)b;
        const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
        return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
    }
}

static int32_t tinyml_fp_mul_pot_sat(int32_t x, int32_t exponent) {
    /* SaturatingRoundingMultiplyByPOT for exponent > 0. */
    const int32_t threshold = (int32_t)((((int64_t)1) << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

static int32_t tinyml_fp_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static int32_t tinyml_fp_sub(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out. */
static int32_t tinyml_exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = tinyml_fp_add(a, 1 << 28);   /* Taylor expansion around -1/8 */
    const int32_t x2 = tinyml_fp_mul(x, x);
    const int32_t x3 = tinyml_fp_mul(x2, x);
    const int32_t x4 = tinyml_fp_mul(x2, x2);
    const int32_t x4_over_4 = tinyml_rounding_shift(x4, 2);
    const int32_t poly = tinyml_rounding_shift(
        tinyml_fp_add(tinyml_fp_mul(tinyml_fp_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return tinyml_fp_add(constant_term, tinyml_fp_mul(constant_term, tinyml_fp_add(x, poly)));
}

/* exp(a) for a <= 0 in Q5.26; result Q0.31. */
static int32_t tinyml_exp_on_negative_q5(int32_t a) {
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                      39332535, 720401, 242};
    const int32_t fractional_bits = 26;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t a_mod = tinyml_fp_sub(a & (one_quarter - 1), one_quarter);
    int32_t result = tinyml_exp_quarter(tinyml_fp_mul_pot_sat(a_mod, 5));
    const int32_t remainder = tinyml_fp_sub(a_mod, a);
    int32_t k;
    for (k = 0; k < 7; ++k) {
        /* exponents -2 .. 4, all below the 5 integer bits */
        if (remainder & (1 << (fractional_bits - 2 + k))) {
            result = tinyml_fp_mul(result, barrel[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out (Newton-Raphson). */
static int32_t tinyml_one_over_one_plus_x(int32_t a) {
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = tinyml_fp_add(1515870810, tinyml_fp_mul(half_denominator, -1010580540)); /* Q2.29 */
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = tinyml_fp_sub(1 << 29, tinyml_fp_mul(half_denominator, x));
        x = tinyml_fp_add(x, tinyml_fp_mul_pot_sat(tinyml_fp_mul(x, one_minus), 2));
    }
    return tinyml_fp_mul_pot_sat(x, 1);
}

static int32_t tinyml_clz32(uint32_t x) {
    int32_t n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void tinyml_softmax_s8(const tinyml_softmax_params *p, const int8_t *input, int8_t *output) {
    int32_t row, c;
    for (row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t headroom, num_bits_over_unit, shifted_scale, exponent;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = tinyml_fp_mul((int32_t)((uint32_t)diff << p->input_left_shift),
                                                     p->input_multiplier);
                sum_of_exps = tinyml_fp_add(sum_of_exps,
                                            tinyml_rounding_shift(tinyml_exp_on_negative_q5(scaled), 12));
            }
        }
        headroom = tinyml_clz32((uint32_t)sum_of_exps);
        num_bits_over_unit = 12 - headroom;
        shifted_scale = tinyml_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum_of_exps << headroom) - ((uint32_t)1 << 31)));
        exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = tinyml_fp_mul((int32_t)((uint32_t)diff << p->input_left_shift),
                                                     p->input_multiplier);
                const int32_t e = tinyml_exp_on_negative_q5(scaled);
                const int32_t v = tinyml_rounding_shift(tinyml_fp_mul(shifted_scale, e), exponent) - 128;
                out[c] = (int8_t)tinyml_clamp(v, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}

/* ------------------------------------------------------------------ ADD / MUL */

TINYML_INLINE int8_t tinyml_add_one(const tinyml_binary_params *p, int32_t a, int32_t b) {
    const int32_t x1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t s1 = tinyml_requantize(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tinyml_requantize(x2, p->input2_multiplier, p->input2_shift);
    const int32_t out = tinyml_requantize(s1 + s2, p->output_multiplier, p->output_shift) + p->output_zp;
    return (int8_t)tinyml_clamp(out, p->act_min, p->act_max);
}

TINYML_INLINE int8_t tinyml_sub_one(const tinyml_binary_params *p, int32_t a, int32_t b) {
    const int32_t x1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t s1 = tinyml_requantize(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tinyml_requantize(x2, p->input2_multiplier, p->input2_shift);
    const int32_t out = tinyml_requantize(s1 - s2, p->output_multiplier, p->output_shift) + p->output_zp;
    return (int8_t)tinyml_clamp(out, p->act_min, p->act_max);
}

TINYML_INLINE int8_t tinyml_mul_one(const tinyml_binary_params *p, int32_t a, int32_t b) {
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t out = tinyml_requantize(prod, p->output_multiplier, p->output_shift) + p->output_zp;
    return (int8_t)tinyml_clamp(out, p->act_min, p->act_max);
}

#define TINYML_BINARY_LOOP(ONE)                                                              \
    do {                                                                                     \
        if (!p->broadcast) {                                                                 \
            int32_t i;                                                                       \
            for (i = 0; i < p->size; ++i) {                                                  \
                output[i] = ONE(p, input1[i], input2[i]);                                    \
            }                                                                                \
        } else {                                                                             \
            int32_t d0, d1, d2, d3;                                                          \
            int8_t *out = output;                                                            \
            for (d0 = 0; d0 < p->shape[0]; ++d0) {                                           \
                for (d1 = 0; d1 < p->shape[1]; ++d1) {                                       \
                    for (d2 = 0; d2 < p->shape[2]; ++d2) {                                   \
                        const int8_t *a = input1 + d0 * p->stride1[0] + d1 * p->stride1[1] + \
                                          d2 * p->stride1[2];                                \
                        const int8_t *b = input2 + d0 * p->stride2[0] + d1 * p->stride2[1] + \
                                          d2 * p->stride2[2];                                \
                        for (d3 = 0; d3 < p->shape[3]; ++d3) {                               \
                            *out++ = ONE(p, a[d3 * p->stride1[3]], b[d3 * p->stride2[3]]);   \
                        }                                                                    \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    } while (0)

void tinyml_add_s8(const tinyml_binary_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output) {
    TINYML_BINARY_LOOP(tinyml_add_one);
}

void tinyml_sub_s8(const tinyml_binary_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output) {
    TINYML_BINARY_LOOP(tinyml_sub_one);
}

void tinyml_mul_s8(const tinyml_binary_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output) {
    TINYML_BINARY_LOOP(tinyml_mul_one);
}

/* ------------------------------------------------------------------ MEAN / REDUCE_MAX */

/* Walk the kept indices (outer) and the reduced indices (inner) of a 4-D
 * tensor; one output per kept index, in row-major order. */
#define TINYML_REDUCE_LOOP(INIT, STEP, FINISH)                                               \
    do {                                                                                    \
        int32_t stride[4], keep[4], red[4];                                                 \
        int32_t o0, o1, o2, o3, r0, r1, r2, r3, k;                                          \
        stride[3] = 1;                                                                      \
        for (k = 2; k >= 0; --k) stride[k] = stride[k + 1] * p->shape[k + 1];               \
        for (k = 0; k < 4; ++k) {                                                           \
            keep[k] = p->reduce[k] ? 1 : p->shape[k];                                       \
            red[k] = p->reduce[k] ? p->shape[k] : 1;                                        \
        }                                                                                   \
        for (o0 = 0; o0 < keep[0]; ++o0)                                                    \
        for (o1 = 0; o1 < keep[1]; ++o1)                                                    \
        for (o2 = 0; o2 < keep[2]; ++o2)                                                    \
        for (o3 = 0; o3 < keep[3]; ++o3) {                                                  \
            const int8_t *base = input + o0 * stride[0] + o1 * stride[1] + o2 * stride[2] + o3; \
            int32_t acc = (INIT);                                                           \
            for (r0 = 0; r0 < red[0]; ++r0)                                                 \
            for (r1 = 0; r1 < red[1]; ++r1)                                                 \
            for (r2 = 0; r2 < red[2]; ++r2)                                                 \
            for (r3 = 0; r3 < red[3]; ++r3) {                                               \
                const int32_t v = base[r0 * stride[0] + r1 * stride[1] + r2 * stride[2] + r3]; \
                STEP;                                                                       \
            }                                                                               \
            *output++ = (int8_t)(FINISH);                                                   \
        }                                                                                   \
    } while (0)

void tinyml_mean_s8(const tinyml_mean_params *p, const int8_t *input, int8_t *output) {
    TINYML_REDUCE_LOOP(0, acc += v,
                       tinyml_clamp(tinyml_requantize(acc - p->input_zp * p->count, p->multiplier,
                                                      p->shift) + p->output_zp, -128, 127));
}

void tinyml_reduce_max_s8(const tinyml_mean_params *p, const int8_t *input, int8_t *output) {
    TINYML_REDUCE_LOOP(-128, acc = v > acc ? v : acc, acc);
}

/* ------------------------------------------------------------------ PAD */

void tinyml_pad_s8(const tinyml_pad_params *p, const int8_t *input, int8_t *output) {
    const int32_t *is = p->in_shape;
    const int32_t *os = p->out_shape;
    const int32_t after3 = os[3] - is[3] - p->before[3];
    int32_t d0, d1, d2;
    int8_t *out = output;
    for (d0 = 0; d0 < os[0]; ++d0) {
        const int32_t i0 = d0 - p->before[0];
        for (d1 = 0; d1 < os[1]; ++d1) {
            const int32_t i1 = d1 - p->before[1];
            for (d2 = 0; d2 < os[2]; ++d2) {
                const int32_t i2 = d2 - p->before[2];
                if (i0 < 0 || i0 >= is[0] || i1 < 0 || i1 >= is[1] || i2 < 0 || i2 >= is[2]) {
                    memset(out, (int)(int8_t)p->value, (size_t)os[3]);
                } else {
                    memset(out, (int)(int8_t)p->value, (size_t)p->before[3]);
                    memcpy(out + p->before[3], input + ((i0 * is[1] + i1) * is[2] + i2) * is[3],
                           (size_t)is[3]);
                    memset(out + p->before[3] + is[3], (int)(int8_t)p->value, (size_t)after3);
                }
                out += os[3];
            }
        }
    }
}

/* ------------------------------------------------------------------ element-wise */

void tinyml_lut_s8(const int8_t *table, const int8_t *input, int8_t *output, int32_t size) {
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
}

void tinyml_copy_strided(const int8_t *input, int8_t *output, int32_t outer, int32_t chunk,
                         int32_t dst_stride) {
    int32_t i;
    if (input == output && chunk == dst_stride) {
        return;
    }
    for (i = 0; i < outer; ++i) {
        memmove(output + i * dst_stride, input + i * chunk, (size_t)chunk);
    }
}

/* std::round on a float without libm: exact for every float. */
static float tinyml_roundf(float x) {
    const float limit = 8388608.0f; /* 2^23: larger floats are integers already */
    float t;
    if (!(x > -limit && x < limit)) {
        return x;
    }
    t = (float)(int32_t)x; /* truncation toward zero */
    if (x - t >= 0.5f) {
        t += 1.0f;
    } else if (t - x >= 0.5f) {
        t -= 1.0f;
    }
    return t;
}

void tinyml_quantize_f32_s8(const int8_t *input, int8_t *output, int32_t size, float scale,
                            int32_t zero_point) {
    int32_t i;
    for (i = 0; i < size; ++i) {
        float v;
        float r;
        int32_t q;
        memcpy(&v, input + 4 * i, sizeof v);
        r = tinyml_roundf(v / scale);
        /* Clamp before converting: the int8 result saturates anyway. */
        if (r > 1000.0f) r = 1000.0f;
        if (r < -1000.0f) r = -1000.0f;
        q = (int32_t)r + zero_point;
        output[i] = (int8_t)tinyml_clamp(q, -128, 127);
    }
}

void tinyml_dequantize_s8_f32(const float *table, const int8_t *input, int8_t *output,
                              int32_t size) {
    int32_t i;
    /* Backwards, so that an output over its own input (4x wider) stays correct. */
    for (i = size - 1; i >= 0; --i) {
        const float v = table[(int32_t)input[i] + 128];
        memcpy(output + 4 * i, &v, sizeof v);
    }
}
