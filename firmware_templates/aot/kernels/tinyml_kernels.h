/* tinyml AOT runtime: int8 kernel library (C99, no allocation, no libc beyond string.h).
 *
 * Written from the TFLite quantization specification. Every kernel produces
 * the same bytes as TensorFlow Lite Micro's reference kernels: accumulation in
 * int32, requantization with a Q31 multiplier and a power-of-two shift
 * (double rounding), clamping to the fused activation range. The generator
 * (tinyml/runtimes/aot) precomputes everything that does not depend on the
 * input: multipliers, shifts, activation ranges, biases with the input zero
 * point folded in, and lookup tables for element-wise operators.
 *
 * The portable C path is what runs on the host and on cores without the DSP
 * extension (Cortex-M0/M0+/M3); on cores with __ARM_FEATURE_DSP the inner
 * products use SMLAD (two 16-bit multiply-accumulates per instruction).
 */
#ifndef TINYML_KERNELS_H
#define TINYML_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TINYML_ALIGN(n) __attribute__((aligned(n)))
#define TINYML_INLINE static inline __attribute__((always_inline))
/* Hot loops in their own functions: the register allocator then sees only them. */
#define TINYML_NOINLINE static __attribute__((noinline))
#else
#define TINYML_NOINLINE static
#define TINYML_ALIGN(n)
#define TINYML_INLINE static inline
#endif

/* ------------------------------------------------------------------ fixed point */

/* gemmlowp SaturatingRoundingDoublingHighMul for a non-negative multiplier:
 * the only saturating case (INT32_MIN * INT32_MIN) cannot happen, and
 * (a*b + 2^30) >> 31 equals gemmlowp's nudge-and-truncate for both signs. */
TINYML_INLINE int32_t tinyml_high_mul(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* Rounding arithmetic right shift, halves away from zero (RoundingDivideByPOT). */
TINYML_INLINE int32_t tinyml_rounding_shift(int32_t x, int32_t exponent) {
    const int32_t mask = (int32_t)((((int64_t)1) << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier: x * multiplier * 2^shift / 2^31, with
 * TFLite's double rounding (high multiply rounding halves up, then a right
 * shift rounding halves away from zero). For a right shift r >= 1 the two
 * roundings nest into one floor division of the 64-bit product (exact for any
 * multiplier >= 0; tests/unit/test_aot_quant.py checks the identity):
 *   floor((x*m + 2^30 - [x<0]*2^31 + 2^(30+r)) / 2^(31+r))
 * which costs one multiply-accumulate and a shift instead of two roundings. */
TINYML_INLINE int64_t tinyml_mul_rounded(int32_t x, int32_t multiplier) {
    /* x*m + (x < 0 ? -2^30 : 2^30), built as two words for one SMLAL */
    const uint32_t sign = (uint32_t)(x >> 31);
    const int64_t bias = (int64_t)(((uint64_t)sign << 32) | ((sign << 31) | 0x40000000u));
    return (int64_t)x * multiplier + bias;
}

/* The high word of tinyml_mul_rounded; for a right shift r >= 2 the result is
 * (tinyml_mul_hi(x, m) + 2^(r-2)) >> (r-1): + 2^(30+r), then / 2^(31+r). */
TINYML_INLINE int32_t tinyml_mul_hi(int32_t x, int32_t multiplier) {
    return (int32_t)(tinyml_mul_rounded(x, multiplier) >> 32);
}

TINYML_INLINE int32_t tinyml_requantize(int32_t x, int32_t multiplier, int32_t shift) {
    if (shift < 0) {
        const int64_t t = tinyml_mul_rounded(x, multiplier);
        const int32_t hi = (int32_t)(t >> 32);
        if (shift == -1) {
            return hi + (int32_t)((uint32_t)t >> 31);
        }
        /* + 2^(30+r) then / 2^(31+r), on the high word: no overflow possible */
        return (hi + (1 << (-shift - 2))) >> (-shift - 1);
    }
    /* The left shift may wrap like TFLM's int32 multiply; do it unsigned. */
    return tinyml_high_mul((int32_t)((uint32_t)x << shift), multiplier);
}

TINYML_INLINE int32_t tinyml_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* ------------------------------------------------------------------ parameters */

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t input_zp;          /* value of padded taps: contributes nothing */
    int32_t output_zp;
    int32_t act_min, act_max;
    const int8_t *weights;     /* [out_c][k_h][k_w][in_c] */
    const int32_t *bias;       /* bias - input_zp * sum(weights of the channel) */
    const int32_t *multiplier; /* per output channel */
    const int32_t *shift;
} tinyml_conv_params;

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t depth_multiplier;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;      /* -input zero point */
    int32_t output_zp;
    int32_t act_min, act_max;
    const int8_t *weights;     /* [k_h][k_w][out_c] */
    const int32_t *bias;       /* raw bias (windows clipped by padding) */
    const int32_t *bias_folded;/* bias + input_offset * sum(weights): full windows */
    const int32_t *multiplier;
    const int32_t *shift;
    const int8_t *zp_row;      /* in_c input zero points: the value of padded taps */
} tinyml_depthwise_params;

typedef struct {
    int32_t batches;
    int32_t in_depth;          /* accumulation depth */
    int32_t out_depth;
    int32_t output_zp;
    int32_t act_min, act_max;
    const int8_t *weights;     /* [out_depth][in_depth] */
    const int32_t *bias;       /* bias + input_offset * sum(weights of the row) */
    const int32_t *multiplier;
    const int32_t *shift;
} tinyml_fc_params;

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} tinyml_pool_params;

typedef struct {
    int32_t outer;             /* rows */
    int32_t depth;             /* softmax axis (last) */
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} tinyml_softmax_params;

/* Broadcasting element-wise binary operators: output shape padded to 4-D and
 * each input's strides in elements (0 along broadcast dimensions). */
typedef struct {
    int32_t size;              /* elements of the output */
    int32_t broadcast;         /* 0: same shapes, walk flat */
    int32_t shape[4];
    int32_t stride1[4];
    int32_t stride2[4];
    int32_t input1_offset, input2_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_zp;
    int32_t act_min, act_max;
    /* ADD / SUB: each input byte's rescaled value, table[q + 128] (SUB negates
     * the second), so an element costs two loads and one requantization. */
    const int32_t *table1;
    const int32_t *table2;
} tinyml_binary_params;

typedef struct {
    int32_t shape[4];          /* input, padded to 4-D */
    int32_t reduce[4];         /* 1 where the axis is reduced */
    int32_t count;             /* elements per output */
    int32_t input_zp;
    int32_t output_zp;
    int32_t multiplier, shift; /* input/output rescale with 1/count folded in */
} tinyml_mean_params;

typedef struct {
    int32_t in_shape[4];
    int32_t out_shape[4];
    int32_t before[4];         /* padding before each dimension */
    int32_t value;             /* quantized pad value */
} tinyml_pad_params;

/* ------------------------------------------------------------------ kernels */

/* In place: a kernel whose output pointer equals its input pointer overwrites
 * its input as it goes (the generator plans that when the input dies there).
 * Supported, with the scratch below:
 *  - CONV_2D stride 1, out_c <= in_c, batch 1: a 1x1 kernel with its usual
 *    scratch; a larger kernel whose output shape = input shape with (pad_h + 1)
 *    more input rows, each in_w * in_c bytes;
 *  - DEPTHWISE_CONV_2D depth multiplier 1, stride 1, output shape = input
 *    shape, batch 1: (pad_h + 1) input rows, each in_w * in_c bytes.
 * Otherwise a conv needs a block of 4 input vectors widened to int16 (32 bytes
 * per 4 depth) and, unless 1x1, one int8 im2col patch; a depthwise conv no
 * scratch. */
int32_t tinyml_conv2d_scratch_bytes(const tinyml_conv_params *p, int32_t in_place);
int32_t tinyml_depthwise_scratch_bytes(const tinyml_depthwise_params *p, int32_t in_place);

void tinyml_conv2d_s8(const tinyml_conv_params *p, const int8_t *input, int8_t *output,
                      int8_t *scratch);
void tinyml_depthwise_conv2d_s8(const tinyml_depthwise_params *p, const int8_t *input,
                                int8_t *output, int8_t *scratch);
void tinyml_fully_connected_s8(const tinyml_fc_params *p, const int8_t *input, int8_t *output);
void tinyml_avg_pool_s8(const tinyml_pool_params *p, const int8_t *input, int8_t *output);
void tinyml_max_pool_s8(const tinyml_pool_params *p, const int8_t *input, int8_t *output);
void tinyml_softmax_s8(const tinyml_softmax_params *p, const int8_t *input, int8_t *output);
void tinyml_add_s8(const tinyml_binary_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output);
void tinyml_mul_s8(const tinyml_binary_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output);
void tinyml_mean_s8(const tinyml_mean_params *p, const int8_t *input, int8_t *output);
void tinyml_reduce_max_s8(const tinyml_mean_params *p, const int8_t *input, int8_t *output);
void tinyml_pad_s8(const tinyml_pad_params *p, const int8_t *input, int8_t *output);

/* out[i] = table[in[i] + 128]; output may be the input (in place). */
void tinyml_lut_s8(const int8_t *table, const int8_t *input, int8_t *output, int32_t size);
/* Copy `outer` chunks of `chunk` bytes, source packed, destination `dst_stride` apart. */
void tinyml_copy_strided(const int8_t *input, int8_t *output, int32_t outer, int32_t chunk,
                         int32_t dst_stride);
/* float32 (as bytes) -> int8: round(x / scale) + zero_point, TFLite's AffineQuantize. */
void tinyml_quantize_f32_s8(const int8_t *input, int8_t *output, int32_t size, float scale,
                            int32_t zero_point);
/* int8 -> float32 (as bytes) through a 256-entry table of scale * (q - zero_point). */
void tinyml_dequantize_s8_f32(const float *table, const int8_t *input, int8_t *output,
                              int32_t size);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_KERNELS_H */
