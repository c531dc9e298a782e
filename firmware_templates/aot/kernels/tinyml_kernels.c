/* tinyml AOT runtime: int8 kernels. See tinyml_kernels.h for the contract. */
#include "tinyml_kernels.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && !defined(TINYML_PORTABLE_ONLY)
#define TINYML_USE_DSP 1
#include <arm_acle.h>
#else
#define TINYML_USE_DSP 0
#endif

/* ------------------------------------------------------------------ inner products */

#if TINYML_USE_DSP
TINYML_INLINE uint32_t tinyml_read_u32(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one LDR: Cortex-M3/M4/M7 allow unaligned words */
    return v;
}

/* Bytes 0 and 2 as two int16 (SXTB16). */
TINYML_INLINE uint32_t tinyml_even16(uint32_t v) {
    return (uint32_t)__sxtb16((int32_t)v);
}

/* Bytes 1 and 3 as two int16: one SXTB16 with its built-in rotation (GCC 12
 * does not fuse a separate rotate into it). */
TINYML_INLINE uint32_t tinyml_odd16(uint32_t v) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* acc + a.lo*b.lo + a.hi*b.hi (SMLAD) */
TINYML_INLINE int32_t tinyml_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return __smlad((int32_t)a, (int32_t)b, acc);
}
#endif

/* Requantize, add the zero point, clamp: one output byte. */
TINYML_INLINE int8_t tinyml_out(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo,
                                int32_t hi) {
    return (int8_t)tinyml_clamp(tinyml_requantize(acc, mult, shift) + zp, lo, hi);
}

/* Weight layouts (the generator writes them, tinyml/runtimes/aot/ops.py):
 * rows of `depth` weights are stored in blocks of B rows (B = 2 for conv,
 * 4 for fully connected) interleaved by 4 columns -- r0[k..k+3], r1[k..k+3],
 * ... -- followed by each row's last depth % 4 weights; rows past the last
 * full block stay row-major. A block starts at weights + first_row * depth,
 * so the kernel walks one pointer through it. */

/* Output channels [0, out_c) of two pixels whose input vectors (patches) are
 * x0 and x1 (depth bytes each): out0[oc] and out1[oc]. x1 may be x0 (and out1
 * out0) for a last, unpaired pixel. */
static void tinyml_mat_2x2(const int8_t *x0, const int8_t *x1, int32_t depth, const int8_t *weights,
                           int32_t out_c, const int32_t *bias, const int32_t *mult,
                           const int32_t *shift, int32_t zp, int32_t lo, int32_t hi, int8_t *out0,
                           int8_t *out1) {
    const int32_t depth4 = depth & ~3;
    const int32_t tail = depth - depth4;
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *w = weights + oc * depth;
        const int8_t *xa = x0;
        const int8_t *xb = x1;
        const int8_t *const xa_end = x0 + depth4;
        int32_t a00 = bias[oc], a01 = bias[oc], a10 = bias[oc + 1], a11 = bias[oc + 1];
        int32_t k;
#if TINYML_USE_DSP
        while (xa != xa_end) {
            const uint32_t va = tinyml_read_u32(xa);
            const uint32_t vb = tinyml_read_u32(xb);
            const uint32_t xa_e = tinyml_even16(va), xa_o = tinyml_odd16(va);
            const uint32_t xb_e = tinyml_even16(vb), xb_o = tinyml_odd16(vb);
            uint32_t v = tinyml_read_u32(w);
            uint32_t w_e = tinyml_even16(v), w_o = tinyml_odd16(v);
            a00 = tinyml_smlad(xa_e, w_e, a00);
            a00 = tinyml_smlad(xa_o, w_o, a00);
            a01 = tinyml_smlad(xb_e, w_e, a01);
            a01 = tinyml_smlad(xb_o, w_o, a01);
            v = tinyml_read_u32(w + 4);
            w_e = tinyml_even16(v);
            w_o = tinyml_odd16(v);
            a10 = tinyml_smlad(xa_e, w_e, a10);
            a10 = tinyml_smlad(xa_o, w_o, a10);
            a11 = tinyml_smlad(xb_e, w_e, a11);
            a11 = tinyml_smlad(xb_o, w_o, a11);
            xa += 4;
            xb += 4;
            w += 8;
        }
#else
        while (xa != xa_end) {
            for (k = 0; k < 4; ++k) {
                const int32_t va = xa[k], vb = xb[k], wa = w[k], wb = w[4 + k];
                a00 += va * wa;
                a01 += vb * wa;
                a10 += va * wb;
                a11 += vb * wb;
            }
            xa += 4;
            xb += 4;
            w += 8;
        }
#endif
        for (k = 0; k < tail; ++k) {
            const int32_t va = xa[k], vb = xb[k], wa = w[k], wb = w[tail + k];
            a00 += va * wa;
            a01 += vb * wa;
            a10 += va * wb;
            a11 += vb * wb;
        }
        out0[oc] = tinyml_out(a00, mult[oc], shift[oc], zp, lo, hi);
        out0[oc + 1] = tinyml_out(a10, mult[oc + 1], shift[oc + 1], zp, lo, hi);
        out1[oc] = tinyml_out(a01, mult[oc], shift[oc], zp, lo, hi);
        out1[oc + 1] = tinyml_out(a11, mult[oc + 1], shift[oc + 1], zp, lo, hi);
    }
    if (oc < out_c) {
        /* the last, unpaired row is row-major */
        const int8_t *w0 = weights + oc * depth;
        int32_t a00 = bias[oc], a01 = bias[oc];
        int32_t k = 0;
#if TINYML_USE_DSP
        for (; k + 4 <= depth; k += 4) {
            const uint32_t xa = tinyml_read_u32(x0 + k);
            const uint32_t xb = tinyml_read_u32(x1 + k);
            const uint32_t w = tinyml_read_u32(w0 + k);
            const uint32_t w_e = tinyml_even16(w), w_o = tinyml_odd16(w);
            a00 = tinyml_smlad(tinyml_even16(xa), w_e, a00);
            a00 = tinyml_smlad(tinyml_odd16(xa), w_o, a00);
            a01 = tinyml_smlad(tinyml_even16(xb), w_e, a01);
            a01 = tinyml_smlad(tinyml_odd16(xb), w_o, a01);
        }
#endif
        for (; k < depth; ++k) {
            a00 += (int32_t)x0[k] * w0[k];
            a01 += (int32_t)x1[k] * w0[k];
        }
        out0[oc] = tinyml_out(a00, mult[oc], shift[oc], zp, lo, hi);
        out1[oc] = tinyml_out(a01, mult[oc], shift[oc], zp, lo, hi);
    }
}

/* All output rows of a fully connected layer for one input vector, four rows
 * (one interleaved block) at a time: every input word is read and sign
 * extended once per block. */
static void tinyml_mat_1x4(const int8_t *x, int32_t depth, const int8_t *weights, int32_t out_c,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t zp,
                           int32_t lo, int32_t hi, int8_t *out) {
    const int32_t depth4 = depth & ~3;
    const int32_t tail = depth - depth4;
    int32_t oc = 0;
    for (; oc + 4 <= out_c; oc += 4) {
        const int8_t *w = weights + oc * depth;
        const int8_t *xp = x;
        const int8_t *const x_end = x + depth4;
        int32_t a0 = bias[oc], a1 = bias[oc + 1], a2 = bias[oc + 2], a3 = bias[oc + 3];
        int32_t k;
#if TINYML_USE_DSP
        while (xp != x_end) {
            const uint32_t xv = tinyml_read_u32(xp);
            const uint32_t x_e = tinyml_even16(xv), x_o = tinyml_odd16(xv);
            uint32_t v[4];
            /* A block of 4 rows starts at a multiple of 4 * depth bytes of an
             * aligned array: one LDM reads the 4 rows' next 4 weights. */
            memcpy(v, __builtin_assume_aligned(w, 4), sizeof v);
            a0 = tinyml_smlad(x_e, tinyml_even16(v[0]), a0);
            a0 = tinyml_smlad(x_o, tinyml_odd16(v[0]), a0);
            a1 = tinyml_smlad(x_e, tinyml_even16(v[1]), a1);
            a1 = tinyml_smlad(x_o, tinyml_odd16(v[1]), a1);
            a2 = tinyml_smlad(x_e, tinyml_even16(v[2]), a2);
            a2 = tinyml_smlad(x_o, tinyml_odd16(v[2]), a2);
            a3 = tinyml_smlad(x_e, tinyml_even16(v[3]), a3);
            a3 = tinyml_smlad(x_o, tinyml_odd16(v[3]), a3);
            xp += 4;
            w += 16;
        }
#else
        while (xp != x_end) {
            for (k = 0; k < 4; ++k) {
                const int32_t xv = xp[k];
                a0 += xv * w[k];
                a1 += xv * w[4 + k];
                a2 += xv * w[8 + k];
                a3 += xv * w[12 + k];
            }
            xp += 4;
            w += 16;
        }
#endif
        for (k = 0; k < tail; ++k) {
            const int32_t xv = xp[k];
            a0 += xv * w[k];
            a1 += xv * w[tail + k];
            a2 += xv * w[2 * tail + k];
            a3 += xv * w[3 * tail + k];
        }
        out[oc] = tinyml_out(a0, mult[oc], shift[oc], zp, lo, hi);
        out[oc + 1] = tinyml_out(a1, mult[oc + 1], shift[oc + 1], zp, lo, hi);
        out[oc + 2] = tinyml_out(a2, mult[oc + 2], shift[oc + 2], zp, lo, hi);
        out[oc + 3] = tinyml_out(a3, mult[oc + 3], shift[oc + 3], zp, lo, hi);
    }
    for (; oc < out_c; ++oc) {
        /* rows past the last block are row-major */
        const int8_t *w0 = weights + oc * depth;
        int32_t a0 = bias[oc];
        int32_t k = 0;
#if TINYML_USE_DSP
        for (; k + 4 <= depth; k += 4) {
            const uint32_t xv = tinyml_read_u32(x + k);
            const uint32_t w = tinyml_read_u32(w0 + k);
            a0 = tinyml_smlad(tinyml_even16(xv), tinyml_even16(w), a0);
            a0 = tinyml_smlad(tinyml_odd16(xv), tinyml_odd16(w), a0);
        }
#endif
        for (; k < depth; ++k) {
            a0 += (int32_t)x[k] * w0[k];
        }
        out[oc] = tinyml_out(a0, mult[oc], shift[oc], zp, lo, hi);
    }
}

/* ------------------------------------------------------------------ CONV_2D */

int32_t tinyml_conv2d_scratch_bytes(const tinyml_conv_params *p, int32_t in_place) {
    if (p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0) {
        return in_place ? 2 * p->in_c : 0;
    }
    return 2 * p->k_h * p->k_w * p->in_c; /* two im2col patches */
}

/* The input vector of output pixel `pixel` (row-major over out_h x out_w):
 * the input pixel itself for a 1x1 kernel, else an im2col patch in dst whose
 * taps outside the image hold the input zero point (the folded bias turns
 * those into a zero contribution). */
static const int8_t *tinyml_conv_patch(const tinyml_conv_params *p, const int8_t *in_b, int32_t pixel,
                                       int8_t *dst) {
    const int32_t oy = pixel / p->out_w;
    const int32_t ox = pixel - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    const int32_t row_bytes = p->in_w * p->in_c;
    int32_t ky, kx;
    int8_t *d = dst;
    if (dst == NULL) {
        return in_b + iy0 * row_bytes + ix0 * p->in_c;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            memset(d, (int)(int8_t)p->input_zp, (size_t)(p->k_w * p->in_c));
            d += p->k_w * p->in_c;
            continue;
        }
        if (p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
            /* the whole kernel row is inside: one copy */
            memcpy(d, in_b + iy * row_bytes + ix0 * p->in_c, (size_t)(p->k_w * p->in_c));
            d += p->k_w * p->in_c;
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (ix >= 0 && ix < p->in_w) {
                memcpy(d, in_b + iy * row_bytes + ix * p->in_c, (size_t)p->in_c);
            } else {
                memset(d, (int)(int8_t)p->input_zp, (size_t)p->in_c);
            }
            d += p->in_c;
        }
    }
    return dst;
}

void tinyml_conv2d_s8(const tinyml_conv_params *p, const int8_t *input, int8_t *output,
                      int8_t *scratch) {
    const int32_t depth = p->k_h * p->k_w * p->in_c;
    const int32_t pixels = p->out_h * p->out_w;
    const int32_t in_place = input == output;
    const int32_t pointwise = tinyml_conv2d_scratch_bytes(p, 0) == 0;
    int8_t *patch0 = pointwise ? NULL : scratch;
    int8_t *patch1 = pointwise ? NULL : scratch + depth;
    int32_t b, px;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = output + b * pixels * p->out_c;
        for (px = 0; px < pixels; px += 2) {
            const int32_t px1 = px + 1 < pixels ? px + 1 : px;
            const int8_t *x0 = tinyml_conv_patch(p, in_b, px, patch0);
            const int8_t *x1 = px1 == px ? x0 : tinyml_conv_patch(p, in_b, px1, patch1);
            if (in_place) {
                /* Outputs px, px1 overwrite these two pixels (and nothing unread,
                 * as out_c <= in_c): read them from a copy. */
                memcpy(scratch, x0, (size_t)p->in_c);
                memcpy(scratch + p->in_c, x1, (size_t)p->in_c);
                x0 = scratch;
                x1 = scratch + p->in_c;
            }
            tinyml_mat_2x2(x0, x1, depth, p->weights, p->out_c, p->bias, p->multiplier, p->shift,
                           p->output_zp, p->act_min, p->act_max, out_b + px * p->out_c,
                           out_b + px1 * p->out_c);
        }
    }
}

/* ------------------------------------------------------------------ DEPTHWISE_CONV_2D */

int32_t tinyml_depthwise_scratch_bytes(const tinyml_depthwise_params *p, int32_t in_place) {
    return in_place ? (p->pad_h + 1) * p->in_w * p->in_c : 0;
}

#define TINYML_DW_MAX_TAPS 64

/* Depth multiplier 1: per output pixel, one pointer per tap (into the input,
 * or at the zero-point row when the tap falls in the padding), then all
 * channels against those taps. Weights (written so by the generator): for
 * each group of 4 channels, the 4 weights of every tap in turn
 * ([group][tap][4]), then the channels past the last group, tap by tap
 * ([channel][tap]). */
/* One tap (input pointer X, weights at w + 4T) into the four channels [c, c+4). */
#if TINYML_USE_DSP
#define TINYML_DW_TAP(X, T)                                                \
    do {                                                                  \
        const uint32_t xv = tinyml_read_u32((X) + c);                     \
        const uint32_t wv = tinyml_read_u32(w + 4 * (T));                 \
        const uint32_t x_e = tinyml_even16(xv), x_o = tinyml_odd16(xv);   \
        const uint32_t w_e = tinyml_even16(wv), w_o = tinyml_odd16(wv);   \
        a0 = __smlabb((int32_t)x_e, (int32_t)w_e, a0);                    \
        a2 = __smlatt((int32_t)x_e, (int32_t)w_e, a2);                    \
        a1 = __smlabb((int32_t)x_o, (int32_t)w_o, a1);                    \
        a3 = __smlatt((int32_t)x_o, (int32_t)w_o, a3);                    \
    } while (0)
#else
#define TINYML_DW_TAP(X, T)                                                \
    do {                                                                  \
        const int8_t *x_ = (X) + c;                                       \
        const int8_t *w_ = w + 4 * (T);                                   \
        a0 += (int32_t)x_[0] * w_[0];                                     \
        a1 += (int32_t)x_[1] * w_[1];                                     \
        a2 += (int32_t)x_[2] * w_[2];                                     \
        a3 += (int32_t)x_[3] * w_[3];                                     \
    } while (0)
#endif

static void tinyml_depthwise_dm1(const tinyml_depthwise_params *p, const int8_t *input,
                                 int8_t *output, int8_t *ring) {
    /* Locals: stores through int8_t pointers may alias *p, locals cannot. */
    const int32_t c_n = p->in_c;
    const int32_t c4 = c_n & ~3;
    const int32_t in_h = p->in_h, in_w = p->in_w;
    const int32_t in_row = in_w * c_n;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t taps = k_h * k_w;
    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
    const int32_t *const bias = p->bias_folded;
    const int32_t *const mult = p->multiplier;
    const int32_t *const shift = p->shift;
    const int8_t *const weights = p->weights;
    const int8_t *const zp_row = p->zp_row;
    const int32_t ring_rows = p->pad_h + 1;
    const int8_t *tap[TINYML_DW_MAX_TAPS];
    int32_t b, oy, ox, ky, kx, t, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * in_h * in_row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int8_t *rows[TINYML_DW_MAX_TAPS];
            if (ring != NULL) {
                /* In place (stride 1, same shape): output row oy overwrites input
                 * row oy, which rows oy+1 .. oy+pad_h still read: keep the last
                 * pad_h + 1 input rows in the ring. */
                memcpy(ring + (oy % ring_rows) * in_row, in_b + oy * in_row, (size_t)in_row);
            }
            for (ky = 0; ky < k_h; ++ky) {
                const int32_t iy = iy0 + ky * dil_h;
                rows[ky] = (iy < 0 || iy >= in_h) ? NULL
                           : (ring != NULL && iy <= oy) ? ring + (iy % ring_rows) * in_row
                                                        : in_b + iy * in_row;
            }
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * c_n;
                const int8_t *w = weights;
                t = 0;
                for (ky = 0; ky < k_h; ++ky) {
                    const int8_t *row = rows[ky];
                    for (kx = 0; kx < k_w; ++kx) {
                        const int32_t ix = ix0 + kx * dil_w;
                        tap[t++] = (row != NULL && ix >= 0 && ix < in_w) ? row + ix * c_n : zp_row;
                    }
                }
                for (c = 0; c < c4; c += 4) {
                    int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
                    if (taps == 9) {
                        /* 3x3: unrolled, no loop counter to keep */
                        TINYML_DW_TAP(tap[0], 0);
                        TINYML_DW_TAP(tap[1], 1);
                        TINYML_DW_TAP(tap[2], 2);
                        TINYML_DW_TAP(tap[3], 3);
                        TINYML_DW_TAP(tap[4], 4);
                        TINYML_DW_TAP(tap[5], 5);
                        TINYML_DW_TAP(tap[6], 6);
                        TINYML_DW_TAP(tap[7], 7);
                        TINYML_DW_TAP(tap[8], 8);
                        w += 36;
                    } else {
                        for (t = 0; t < taps; ++t) {
                            TINYML_DW_TAP(tap[t], 0);
                            w += 4;
                        }
                    }
                    out[c] = tinyml_out(a0, mult[c], shift[c], zp, lo, hi);
                    out[c + 1] = tinyml_out(a1, mult[c + 1], shift[c + 1], zp, lo, hi);
                    out[c + 2] = tinyml_out(a2, mult[c + 2], shift[c + 2], zp, lo, hi);
                    out[c + 3] = tinyml_out(a3, mult[c + 3], shift[c + 3], zp, lo, hi);
                }
                for (; c < c_n; ++c) {
                    int32_t acc = bias[c];
                    for (t = 0; t < taps; ++t) {
                        acc += (int32_t)tap[t][c] * *w++;
                    }
                    out[c] = tinyml_out(acc, mult[c], shift[c], zp, lo, hi);
                }
            }
        }
    }
}

/* Any depth multiplier: windows clipped by padding use only their valid taps. */
static void tinyml_depthwise_generic(const tinyml_depthwise_params *p, const int8_t *input,
                                     int8_t *output) {
    const int32_t dm = p->depth_multiplier;
    const int32_t in_row = p->in_w * p->in_c;
    const int32_t w_row = p->k_w * p->out_c;
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * in_row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0 = 0, ky1 = p->k_h;
            while (ky0 < ky1 && iy0 + ky0 * p->dil_h < 0) ++ky0;
            while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dil_h >= p->in_h) --ky1;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                int32_t kx0 = 0, kx1 = p->k_w;
                while (kx0 < kx1 && ix0 + kx0 * p->dil_w < 0) ++kx0;
                while (kx1 > kx0 && ix0 + (kx1 - 1) * p->dil_w >= p->in_w) --kx1;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < dm; ++m) {
                        const int32_t oc = ic * dm + m;
                        int32_t acc = p->bias[oc];
                        for (ky = ky0; ky < ky1; ++ky) {
                            const int8_t *x = in_b + (iy0 + ky * p->dil_h) * in_row + ic;
                            const int8_t *w = p->weights + ky * w_row + oc;
                            for (kx = kx0; kx < kx1; ++kx) {
                                acc += ((int32_t)x[(ix0 + kx * p->dil_w) * p->in_c] + p->input_offset) *
                                       w[kx * p->out_c];
                            }
                        }
                        out[oc] = tinyml_out(acc, p->multiplier[oc], p->shift[oc], p->output_zp,
                                             p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void tinyml_depthwise_conv2d_s8(const tinyml_depthwise_params *p, const int8_t *input,
                                int8_t *output, int8_t *scratch) {
    /* The generator lays the weights out for the path taken here (same test). */
    if (p->depth_multiplier == 1 && p->k_h * p->k_w <= TINYML_DW_MAX_TAPS) {
        tinyml_depthwise_dm1(p, input, output, input == output ? scratch : NULL);
    } else {
        tinyml_depthwise_generic(p, input, output);
    }
}

/* ------------------------------------------------------------------ FULLY_CONNECTED */

void tinyml_fully_connected_s8(const tinyml_fc_params *p, const int8_t *input, int8_t *output) {
    int32_t b;
    for (b = 0; b < p->batches; ++b) {
        tinyml_mat_1x4(input + b * p->in_depth, p->in_depth, p->weights, p->out_depth, p->bias,
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

/* Element-wise loop shared by ADD/SUB and MUL. ONE(a, b) computes one output
 * from two input bytes using the locals declared by the caller (copies of the
 * parameters: stores through int8_t pointers could alias *p, locals cannot). */
#define TINYML_BINARY_LOOP(ONE)                                                              \
    do {                                                                                     \
        if (!p->broadcast) {                                                                 \
            const int8_t *a_ = input1;                                                       \
            const int8_t *b_ = input2;                                                       \
            int8_t *o_ = output;                                                             \
            int8_t *const end_ = output + p->size;                                           \
            while (o_ != end_) {                                                             \
                const int32_t va = *a_++;                                                    \
                const int32_t vb = *b_++;                                                    \
                *o_++ = ONE(va, vb);                                                         \
            }                                                                                \
        } else {                                                                             \
            int32_t d0, d1, d2, d3;                                                          \
            int8_t *o_ = output;                                                             \
            for (d0 = 0; d0 < p->shape[0]; ++d0) {                                           \
                for (d1 = 0; d1 < p->shape[1]; ++d1) {                                       \
                    for (d2 = 0; d2 < p->shape[2]; ++d2) {                                   \
                        const int8_t *a_ = input1 + d0 * p->stride1[0] + d1 * p->stride1[1] + \
                                           d2 * p->stride1[2];                               \
                        const int8_t *b_ = input2 + d0 * p->stride2[0] + d1 * p->stride2[1] + \
                                           d2 * p->stride2[2];                               \
                        for (d3 = 0; d3 < p->shape[3]; ++d3) {                               \
                            const int32_t va = a_[d3 * p->stride1[3]];                       \
                            const int32_t vb = b_[d3 * p->stride2[3]];                       \
                            *o_++ = ONE(va, vb);                                             \
                        }                                                                    \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* ADD and SUB: the tables hold each input byte's rescaled value (SUB's second
 * negated), so one requantization per element remains. */
void tinyml_add_s8(const tinyml_binary_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output) {
    const int32_t *const t1 = p->table1 + 128;
    const int32_t *const t2 = p->table2 + 128;
    const int32_t mult = p->output_multiplier, shift = p->output_shift;
    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
#define TINYML_ADD_ONE(a, b) ((int8_t)tinyml_clamp(tinyml_requantize(t1[a] + t2[b], mult, shift) + zp, lo, hi))
    TINYML_BINARY_LOOP(TINYML_ADD_ONE);
#undef TINYML_ADD_ONE
}

void tinyml_mul_s8(const tinyml_binary_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output) {
    const int32_t off1 = p->input1_offset, off2 = p->input2_offset;
    const int32_t mult = p->output_multiplier, shift = p->output_shift;
    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
#define TINYML_MUL_ONE(a, b) \
    ((int8_t)tinyml_clamp(tinyml_requantize(((a) + off1) * ((b) + off2), mult, shift) + zp, lo, hi))
    TINYML_BINARY_LOOP(TINYML_MUL_ONE);
#undef TINYML_MUL_ONE
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
