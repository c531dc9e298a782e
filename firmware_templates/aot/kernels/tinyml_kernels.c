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

/* Four words in one LDM: the words land in r8..r11, named, because an LDM's
 * register list must ascend and the compiler's own choice would not. Declare
 * the four with TINYML_R8_R11, then TINYML_LDM4 loads P[0..15] and P += 16
 * (P 4-byte aligned). */
#define TINYML_R8_R11(W0, W1, W2, W3)  \
    register uint32_t W0 __asm__("r8"); \
    register uint32_t W1 __asm__("r9"); \
    register uint32_t W2 __asm__("r10"); \
    register uint32_t W3 __asm__("r11")
#define TINYML_LDM4(P, W0, W1, W2, W3)                                              \
    __asm__("ldmia %[p]!, {r8, r9, r10, r11}"                                       \
            : "=r"(W0), "=r"(W1), "=r"(W2), "=r"(W3), [p] "+r"(P) : : "memory")
#endif

/* Requantize, add the zero point, clamp: one output byte. */
TINYML_INLINE int8_t tinyml_out(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo,
                                int32_t hi) {
    return (int8_t)tinyml_clamp(tinyml_requantize(acc, mult, shift) + zp, lo, hi);
}


/* ------------------------------------------------------------------ requantization of a channel */

/* The outputs of one channel share its multiplier and shift: the shift's
 * rounding constants are computed once per channel, not per output. */
typedef struct {
    int32_t mult;
    int32_t shift;   /* TFLite's exponent: < 0 shifts right */
    int32_t rnd;     /* shift <= -2: 2^(-shift-2), the rounding bit on the high word */
    int32_t rs;      /* shift <= -2: -shift - 1 */
    int32_t zp, lo, hi;
} tinyml_chan;

TINYML_INLINE tinyml_chan tinyml_chan_make(int32_t mult, int32_t shift, int32_t zp, int32_t lo,
                                           int32_t hi) {
    tinyml_chan c;
    c.mult = mult;
    c.shift = shift;
    c.rnd = shift <= -2 ? 1 << (-shift - 2) : 0;
    c.rs = shift <= -2 ? -shift - 1 : 0;
    c.zp = zp;
    c.lo = lo;
    c.hi = hi;
    return c;
}

/* tinyml_requantize with the channel's precomputed constants (same result). */
TINYML_INLINE int8_t tinyml_chan_out(const tinyml_chan *c, int32_t acc) {
    const int32_t v = c->shift <= -2 ? (tinyml_mul_hi(acc, c->mult) + c->rnd) >> c->rs
                                     : tinyml_requantize(acc, c->mult, c->shift);
    return (int8_t)tinyml_clamp(v + c->zp, c->lo, c->hi);
}

/* ------------------------------------------------------------------ matrix products */

/* Rows of weights times input vectors: CONV_2D (rows = output channels,
 * vectors = im2col patches or pixels) and FULLY_CONNECTED (one vector).
 * Weights (written so by the generator, tinyml/runtimes/aot/ops.py): rows of
 * groups * 4 bytes (depth zero-padded to a multiple of 4), row-major for
 * CONV_2D; for FULLY_CONNECTED blocks of 4 rows interleaved by groups --
 * r0[4g..4g+3], r1[4g..], r2[4g..], r3[4g..] -- and the rows past the last
 * block row-major. Arrays are 4-byte aligned, so every group is a word. */
typedef struct {
    const int8_t *weights;
    const int32_t *bias;       /* bias - input_zp * sum(weights of the row) */
    const int32_t *mult;
    const int32_t *shift;
    int32_t rows;
    int32_t groups;            /* ceil(depth / 4) */
    int32_t zp, lo, hi;
} tinyml_gemm;

/* Vectors are widened to int16 once, into a block of TINYML_BLOCK_PX vectors
 * interleaved by groups: group g holds, for vector p = 0..3 in turn, the pairs
 * (x[4g], x[4g+2]) and (x[4g+1], x[4g+3]) -- the order in which SXTB16 splits
 * a word of 4 weights, so SMLAD multiplies matching pairs with no reordering.
 * A group is 32 bytes; depth past the vector's end is zero. */
#define TINYML_BLOCK_PX 4
#define TINYML_GROUP_BYTES (8 * TINYML_BLOCK_PX)

/* An int16 of the block (2-byte aligned: one LDRSH). */
TINYML_INLINE int32_t tinyml_read_i16(const int8_t *p) {
    int16_t v;
    memcpy(&v, __builtin_assume_aligned(p, 2), sizeof v);
    return v;
}

TINYML_INLINE void tinyml_widen4(const int8_t *x, int8_t *dst) {
#if TINYML_USE_DSP
    const uint32_t v = tinyml_read_u32(x);
    const uint32_t pair[2] = {tinyml_even16(v), tinyml_odd16(v)};
    memcpy(dst, pair, sizeof pair);
#else
    const int16_t pair[4] = {x[0], x[2], x[1], x[3]};
    memcpy(dst, pair, sizeof pair);
#endif
}

/* Vector x (depth bytes) into slot p of the block. */
TINYML_NOINLINE void tinyml_widen(const int8_t *x, int32_t depth, int8_t *block, int32_t p) {
    int8_t *dst = block + 8 * p;
    const int8_t *const end = x + (depth & ~3);
    while (x != end) {
        tinyml_widen4(x, dst);
        x += 4;
        dst += TINYML_GROUP_BYTES;
    }
    if (depth & 3) {
        int8_t last[4] = {0, 0, 0, 0};
        memcpy(last, x, (size_t)(depth & 3));
        tinyml_widen4(last, dst);
    }
}

/* One row of weights against the 4 vectors of a block: acc[p] += row . x_p. */
TINYML_NOINLINE void tinyml_dot_4px(const int8_t *w, const int8_t *block, int32_t groups,
                                  int32_t acc[4]) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *const end = w + 4 * groups;
    const int8_t *x = block;
#if TINYML_USE_DSP
    while (w != end) {
        const uint32_t wv = tinyml_read_u32(w);
        const uint32_t w_e = tinyml_even16(wv), w_o = tinyml_odd16(wv);
        /* the group's 8 words: two LDMs of 4 (8 registers would not fit) */
        TINYML_R8_R11(x0, x1, x2, x3);
        TINYML_LDM4(x, x0, x1, x2, x3);
        a0 = tinyml_smlad(w_e, x0, a0);
        a0 = tinyml_smlad(w_o, x1, a0);
        a1 = tinyml_smlad(w_e, x2, a1);
        a1 = tinyml_smlad(w_o, x3, a1);
        TINYML_LDM4(x, x0, x1, x2, x3);
        a2 = tinyml_smlad(w_e, x0, a2);
        a2 = tinyml_smlad(w_o, x1, a2);
        a3 = tinyml_smlad(w_e, x2, a3);
        a3 = tinyml_smlad(w_o, x3, a3);
        w += 4;
    }
#else
    while (w != end) {
        const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        a0 += w0 * tinyml_read_i16(x) + w2 * tinyml_read_i16(x + 2) +
              w1 * tinyml_read_i16(x + 4) + w3 * tinyml_read_i16(x + 6);
        a1 += w0 * tinyml_read_i16(x + 8) + w2 * tinyml_read_i16(x + 10) +
              w1 * tinyml_read_i16(x + 12) + w3 * tinyml_read_i16(x + 14);
        a2 += w0 * tinyml_read_i16(x + 16) + w2 * tinyml_read_i16(x + 18) +
              w1 * tinyml_read_i16(x + 20) + w3 * tinyml_read_i16(x + 22);
        a3 += w0 * tinyml_read_i16(x + 24) + w2 * tinyml_read_i16(x + 26) +
              w1 * tinyml_read_i16(x + 28) + w3 * tinyml_read_i16(x + 30);
        w += 4;
        x += TINYML_GROUP_BYTES;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One row against vector p of a block. */
TINYML_INLINE int32_t tinyml_dot_1px(const int8_t *w, const int8_t *block, int32_t p, int32_t groups,
                                     int32_t acc) {
    const int8_t *const end = w + 4 * groups;
    const int8_t *x = block + 8 * p;
    while (w != end) {
#if TINYML_USE_DSP
        const uint32_t wv = tinyml_read_u32(w);
        uint32_t xv[2];
        memcpy(xv, __builtin_assume_aligned(x, 4), sizeof xv);
        acc = tinyml_smlad(tinyml_even16(wv), xv[0], acc);
        acc = tinyml_smlad(tinyml_odd16(wv), xv[1], acc);
#else
        acc += w[0] * tinyml_read_i16(x) + w[2] * tinyml_read_i16(x + 2) +
               w[1] * tinyml_read_i16(x + 4) + w[3] * tinyml_read_i16(x + 6);
#endif
        w += 4;
        x += TINYML_GROUP_BYTES;
    }
    return acc;
}

/* FULLY_CONNECTED inner products, int8 x int8 widened on the fly (the input
 * vector is read once per block of 4 rows, so widening it ahead would not
 * pay for its scratch). 4 interleaved rows: acc[k] += row_k . x; returns the
 * weights past the groups read. */
#if TINYML_USE_DSP
/* One group (4 input bytes) of 4 interleaved rows into a[0..3]. */
TINYML_INLINE void tinyml_group_4rows(const int8_t *x, const int8_t **w, int32_t a[4]) {
    const uint32_t xv = tinyml_read_u32(x);
    const uint32_t x_e = tinyml_even16(xv), x_o = tinyml_odd16(xv);
    /* the 4 rows' next words (a block of 4 rows is 16-byte steps into a
     * 4-byte aligned array) */
    TINYML_R8_R11(w0, w1, w2, w3);
    TINYML_LDM4(*w, w0, w1, w2, w3);
    a[0] = tinyml_smlad(x_e, tinyml_even16(w0), a[0]);
    a[0] = tinyml_smlad(x_o, tinyml_odd16(w0), a[0]);
    a[1] = tinyml_smlad(x_e, tinyml_even16(w1), a[1]);
    a[1] = tinyml_smlad(x_o, tinyml_odd16(w1), a[1]);
    a[2] = tinyml_smlad(x_e, tinyml_even16(w2), a[2]);
    a[2] = tinyml_smlad(x_o, tinyml_odd16(w2), a[2]);
    a[3] = tinyml_smlad(x_e, tinyml_even16(w3), a[3]);
    a[3] = tinyml_smlad(x_o, tinyml_odd16(w3), a[3]);
}
#else
TINYML_INLINE void tinyml_group_4rows(const int8_t *x, const int8_t **w, int32_t a[4]) {
    const int8_t *v = *w;
    int32_t k;
    for (k = 0; k < 4; ++k) {
        a[0] += x[k] * v[k];
        a[1] += x[k] * v[4 + k];
        a[2] += x[k] * v[8 + k];
        a[3] += x[k] * v[12 + k];
    }
    *w = v + 16;
}
#endif

TINYML_NOINLINE const int8_t *tinyml_dot_4rows(const int8_t *x, const int8_t *w, int32_t groups,
                                               int32_t acc[4]) {
    int32_t a[4];
    const int8_t *const end = x + 4 * groups;
    memcpy(a, acc, sizeof a);
    if (groups & 1) {
        tinyml_group_4rows(x, &w, a);
        x += 4;
    }
    /* two groups per iteration: half the loop's compare-and-branch */
    while (x != end) {
        tinyml_group_4rows(x, &w, a);
        tinyml_group_4rows(x + 4, &w, a);
        x += 8;
    }
    memcpy(acc, a, sizeof a);
    return w;
}

/* One row-major row: acc + row . x over `groups` words. */
TINYML_INLINE int32_t tinyml_dot_row(const int8_t *x, const int8_t *w, int32_t groups, int32_t acc) {
    const int8_t *const end = x + 4 * groups;
    while (x != end) {
#if TINYML_USE_DSP
        const uint32_t xv = tinyml_read_u32(x);
        const uint32_t wv = tinyml_read_u32(w);
        acc = tinyml_smlad(tinyml_even16(xv), tinyml_even16(wv), acc);
        acc = tinyml_smlad(tinyml_odd16(xv), tinyml_odd16(wv), acc);
#else
        acc += x[0] * w[0] + x[1] * w[1] + x[2] * w[2] + x[3] * w[3];
#endif
        x += 4;
        w += 4;
    }
    return acc;
}

/* Every row against the 4 vectors of a block; output p of row r goes to
 * out[p * out_stride + r]. */
TINYML_NOINLINE void tinyml_gemm_4px(const tinyml_gemm *g, const int8_t *block, int8_t *out,
                            int32_t out_stride) {
    const int8_t *w = g->weights;
    const int32_t row_bytes = 4 * g->groups;
    int32_t r;
    for (r = 0; r < g->rows; ++r) {
        const tinyml_chan c = tinyml_chan_make(g->mult[r], g->shift[r], g->zp, g->lo, g->hi);
        int32_t acc[4];
        int8_t *o = out + r;
        acc[0] = acc[1] = acc[2] = acc[3] = g->bias[r];
        tinyml_dot_4px(w, block, g->groups, acc);
        o[0] = tinyml_chan_out(&c, acc[0]);
        o[out_stride] = tinyml_chan_out(&c, acc[1]);
        o[2 * out_stride] = tinyml_chan_out(&c, acc[2]);
        o[3 * out_stride] = tinyml_chan_out(&c, acc[3]);
        w += row_bytes;
    }
}

/* Every row against vector p of a block (the pixels past the last full block). */
TINYML_NOINLINE void tinyml_gemm_1px(const tinyml_gemm *g, const int8_t *block, int32_t p, int8_t *out) {
    const int8_t *w = g->weights;
    const int32_t row_bytes = 4 * g->groups;
    int32_t r;
    for (r = 0; r < g->rows; ++r) {
        const tinyml_chan c = tinyml_chan_make(g->mult[r], g->shift[r], g->zp, g->lo, g->hi);
        out[r] = tinyml_chan_out(&c, tinyml_dot_1px(w, block, p, g->groups, g->bias[r]));
        w += row_bytes;
    }
}

/* FULLY_CONNECTED: all rows for one input vector x (depth bytes), 4 rows
 * (one interleaved block of weights) at a time, each input word read and
 * sign-extended once per block. */
TINYML_NOINLINE void tinyml_gemv(const tinyml_gemm *g, const int8_t *x, int32_t depth, int8_t *out) {
    const int32_t full = depth >> 2;
    const int8_t *w = g->weights;
    int8_t last[4] = {0, 0, 0, 0};
    int32_t r = 0;
    memcpy(last, x + 4 * full, (size_t)(depth & 3));
    for (; r + 4 <= g->rows; r += 4) {
        int32_t acc[4];
        int32_t k;
        acc[0] = g->bias[r];
        acc[1] = g->bias[r + 1];
        acc[2] = g->bias[r + 2];
        acc[3] = g->bias[r + 3];
        w = tinyml_dot_4rows(x, w, full, acc);
        if (full != g->groups) {
            w = tinyml_dot_4rows(last, w, 1, acc);
        }
        for (k = 0; k < 4; ++k) {
            const tinyml_chan c = tinyml_chan_make(g->mult[r + k], g->shift[r + k], g->zp, g->lo, g->hi);
            out[r + k] = tinyml_chan_out(&c, acc[k]);
        }
    }
    for (; r < g->rows; ++r) {
        const tinyml_chan c = tinyml_chan_make(g->mult[r], g->shift[r], g->zp, g->lo, g->hi);
        int32_t acc = tinyml_dot_row(x, w, full, g->bias[r]);
        if (full != g->groups) {
            acc = tinyml_dot_row(last, w + 4 * full, 1, acc);
        }
        out[r] = tinyml_chan_out(&c, acc);
        w += 4 * g->groups;
    }
}

/* ------------------------------------------------------------------ CONV_2D */

int32_t tinyml_conv2d_scratch_bytes(const tinyml_conv_params *p, int32_t in_place) {
    const int32_t depth = p->k_h * p->k_w * p->in_c;
    const int32_t block = TINYML_GROUP_BYTES * ((depth + 3) >> 2);
    if (p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0) {
        return block; /* in place, the block is the copy of the pixels being overwritten */
    }
    /* and one int8 im2col patch; in place, a ring of the last pad_h + 1 input rows */
    return block + depth + (in_place ? (p->pad_h + 1) * p->in_w * p->in_c : 0);
}

/* Where the input rows are. In place (stride 1, output shape = input shape,
 * out_c <= in_c), output row oy overwrites input row oy (and nothing below
 * it), which the rows oy+1 .. oy+pad_h still read: before the first patch of
 * row oy, that row is copied into a ring of pad_h + 1 rows, and rows <= oy
 * are read from there. */
typedef struct {
    const int8_t *in_b;
    int8_t *ring;              /* NULL unless in place */
    int32_t ring_rows;
    int32_t row_bytes;
    int32_t copied;            /* input rows [0, copied) went into the ring */
} tinyml_conv_src;

TINYML_INLINE const int8_t *tinyml_conv_row(const tinyml_conv_src *s, int32_t iy, int32_t oy) {
    return (s->ring != NULL && iy <= oy) ? s->ring + (iy % s->ring_rows) * s->row_bytes
                                         : s->in_b + iy * s->row_bytes;
}

/* The input vector of output pixel `pixel` (row-major over out_h x out_w):
 * the input pixel itself for a 1x1 kernel, else an im2col patch in dst whose
 * taps outside the image hold the input zero point (the folded bias turns
 * those into a zero contribution). */
static const int8_t *tinyml_conv_patch(const tinyml_conv_params *p, tinyml_conv_src *s, int32_t pixel,
                                       int8_t *dst) {
    const int32_t oy = pixel / p->out_w;
    const int32_t ox = pixel - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    const int32_t tap_bytes = p->in_c;
    int32_t ky, kx;
    int8_t *d = dst;
    if (dst == NULL) {
        return s->in_b + iy0 * s->row_bytes + ix0 * tap_bytes;
    }
    if (s->ring != NULL && s->copied <= oy) {
        memcpy(s->ring + (oy % s->ring_rows) * s->row_bytes, s->in_b + oy * s->row_bytes,
               (size_t)s->row_bytes);
        s->copied = oy + 1;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *row;
        if (iy < 0 || iy >= p->in_h) {
            memset(d, (int)(int8_t)p->input_zp, (size_t)(p->k_w * tap_bytes));
            d += p->k_w * tap_bytes;
            continue;
        }
        row = tinyml_conv_row(s, iy, oy);
        if (p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
            /* the whole kernel row is inside: one copy */
            memcpy(d, row + ix0 * tap_bytes, (size_t)(p->k_w * tap_bytes));
            d += p->k_w * tap_bytes;
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (ix >= 0 && ix < p->in_w) {
                memcpy(d, row + ix * tap_bytes, (size_t)tap_bytes);
            } else {
                memset(d, (int)(int8_t)p->input_zp, (size_t)tap_bytes);
            }
            d += tap_bytes;
        }
    }
    return dst;
}

/* Pixels in blocks of 4: their vectors are widened into the block, then every
 * output channel is computed against the block. In place, every vector of a
 * block is read before its outputs are written: a 1x1 conv needs no other
 * copy (out_c <= in_c: the outputs cover no byte of a later pixel), a larger
 * kernel the row ring above. */
void tinyml_conv2d_s8(const tinyml_conv_params *p, const int8_t *input, int8_t *output,
                      int8_t *scratch) {
    const int32_t depth = p->k_h * p->k_w * p->in_c;
    const int32_t groups = (depth + 3) >> 2;
    const int32_t pixels = p->out_h * p->out_w;
    const int32_t pointwise = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    int8_t *const block = scratch;
    int8_t *const patch = pointwise ? NULL : scratch + TINYML_GROUP_BYTES * groups;
    tinyml_conv_src s;
    tinyml_gemm g;
    int32_t b, px, k;
    g.weights = p->weights;
    g.bias = p->bias;
    g.mult = p->multiplier;
    g.shift = p->shift;
    g.rows = p->out_c;
    g.groups = groups;
    g.zp = p->output_zp;
    g.lo = p->act_min;
    g.hi = p->act_max;
    s.ring = (input == output && !pointwise) ? scratch + tinyml_conv2d_scratch_bytes(p, 0) : NULL;
    s.ring_rows = p->pad_h + 1;
    s.row_bytes = p->in_w * p->in_c;
    for (b = 0; b < p->batches; ++b) {
        int8_t *out_b = output + b * pixels * p->out_c;
        s.in_b = input + b * p->in_h * s.row_bytes;
        s.copied = 0;
        for (px = 0; px < pixels; px += TINYML_BLOCK_PX) {
            const int32_t n = pixels - px < TINYML_BLOCK_PX ? pixels - px : TINYML_BLOCK_PX;
            for (k = 0; k < n; ++k) {
                tinyml_widen(tinyml_conv_patch(p, &s, px + k, patch), depth, block, k);
            }
            if (n == TINYML_BLOCK_PX) {
                tinyml_gemm_4px(&g, block, out_b + px * p->out_c, p->out_c);
            } else {
                for (k = 0; k < n; ++k) {
                    tinyml_gemm_1px(&g, block, k, out_b + (px + k) * p->out_c);
                }
            }
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
    tinyml_gemm g;
    int32_t b;
    g.weights = p->weights;
    g.bias = p->bias;
    g.mult = p->multiplier;
    g.shift = p->shift;
    g.rows = p->out_depth;
    g.groups = (p->in_depth + 3) >> 2;
    g.zp = p->output_zp;
    g.lo = p->act_min;
    g.hi = p->act_max;
    for (b = 0; b < p->batches; ++b) {
        tinyml_gemv(&g, input + b * p->in_depth, p->in_depth, output + b * p->out_depth);
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
