/* direct_conv.h: the C of the direct convolution for few input channels (pyx/direct_conv.pyx).
 *
 * What it computes: y = conv(x, w) + b (optionally max(0, y)), dW / db and dx of a 2-D convolution,
 * summed tap by tap over the image instead of through an im2col matrix. sn_direct_fma_* and
 * sn_direct_tap_* are the inner loops of the general-stride paths (a row of 32 lanes against a block of
 * filters); sn_s1_* (direct_conv_s1.h, stamped out for float and double below) are the stride-1 register
 * tiles: forward (SN_S1_FILTERS filters x 2 vectors of output columns), dx (SN_S1_ROWS rows x 2 vectors)
 * and dW / db (SN_S1_WFILTERS filters x SN_S1_TAPS taps, float32 lanes summed per image into doubles).
 * NumPy twin: scratchnet/fast/direct_conv.py (same results to rounding: the sums run in another order and,
 * in the stride-1 tiles, as fused multiply-adds).
 * Data layout: C-contiguous NCHW. x (N, C, H, W), w (F, C, kh, kw), b (F,), y and dout (N, F, OH, OW),
 * dx (N, C, H, W). The stride-1 forward and dW read a zero-padded copy xp (C, PH, PW) per image, PW wide
 * enough for whole vectors past the last output column; forward reads packed weights
 * wp (C, kh, kw, SN_S1_FILTERS) per block of filters; dx reads dout in place with masked loads. */
#ifndef SN_DIRECT_CONV_H
#define SN_DIRECT_CONV_H

/* acc[f, :] += coefs[f * stride] * row[:] for f < nf: one loaded row reused by a block of filters, the
   innermost loop a fixed 32 lanes with restrict pointers so the compiler vectorises it */
#define SN_DIRECT_LANES 32
#define SN_DIRECT_FMA(NAME, T)                                                                         \
static void NAME(T* restrict acc, const T* restrict row, const T* restrict coefs, Py_ssize_t stride, \
                 Py_ssize_t nf) {                                                                     \
    for (Py_ssize_t f = 0; f < nf; f++) {                                                           \
        const T c = coefs[f * stride];                                                              \
        T* restrict a = acc + f * SN_DIRECT_LANES;                                                  \
        for (int t = 0; t < SN_DIRECT_LANES; t++) a[t] += c * row[t];                               \
    }                                                                                               \
}
SN_DIRECT_FMA(sn_direct_fma_f, float)
SN_DIRECT_FMA(sn_direct_fma_d, double)
/* acc[f * acc_stride + t] += g[f, t] * row[t] for f < nf: one tap row of an output-row chunk against
   the upstream gradients of a block of filters */
#define SN_DIRECT_TAP(NAME, T)                                                                         \
static void NAME(T* restrict acc, const T* restrict g, const T* restrict row, Py_ssize_t nf,          \
                 Py_ssize_t acc_stride) {                                                             \
    for (Py_ssize_t f = 0; f < nf; f++) {                                                           \
        T* restrict a = acc + f * acc_stride;                                                       \
        const T* restrict gf = g + f * SN_DIRECT_LANES;                                             \
        for (int t = 0; t < SN_DIRECT_LANES; t++) a[t] += gf[t] * row[t];                           \
    }                                                                                               \
}
SN_DIRECT_TAP(sn_direct_tap_f, float)
SN_DIRECT_TAP(sn_direct_tap_d, double)

/* ---- stride 1: register tiles over zero-padded copies (no bounds inside the loops) ------------------
   V is one vector register of T (GCC vector extension: the compiler splits it where the target's
   registers are narrower). Each tile's accumulators stay in registers while the sums run: 16 of
   AVX-512's 32 registers for forward and dx, 15 for dW (GCC kept one array of 16 or more in memory,
   hence two arrays for forward and dx); smaller tiles elsewhere. The sums are fused multiply-adds
   (SN_FUSED, kernel_helpers.h) */
#if defined(__AVX512F__)
#define SN_S1_BYTES 64
#define SN_S1_FILTERS 8
#define SN_S1_ROWS 8
#define SN_S1_WFILTERS 3
#elif defined(__AVX__)
#define SN_S1_BYTES 32
#define SN_S1_FILTERS 4
#define SN_S1_ROWS 4
#define SN_S1_WFILTERS 2
#else
#define SN_S1_BYTES 16
#define SN_S1_FILTERS 4
#define SN_S1_ROWS 4
#define SN_S1_WFILTERS 2
#endif
#define SN_S1_TAPS 5
/* the lanes [lo, hi) of an L-lane vector at column c of a row of OW columns: those inside the row */
static inline void sn_s1_span_bounds(Py_ssize_t c, Py_ssize_t OW, int L, int* lo, int* hi) {
    *lo = c < 0 ? (int)(-c < L ? -c : L) : 0;
    *hi = OW - c < L ? (int)(OW - c > *lo ? OW - c : *lo) : L;
}
#if defined(__AVX512F__)
#include <immintrin.h>
#define SN_S1_MASKED 1
#else
#define SN_S1_MASKED 0
#endif
/* The stride-1 kernels' loads and stores of part of a vector, by type (the bodies of sn_s1_head_*,
   sn_s1_store_*'s tail and sn_s1_span_* in direct_conv_s1.h) */
#if SN_S1_MASKED
#define SN_S1_HEAD_f return (sn_vf)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), src);
#define SN_S1_HEAD_d return (sn_vd)_mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1), src);
/* (1u << n) - 1 for n = 16 is 0xffff: a whole vector */
#define SN_S1_TAIL_f _mm512_mask_storeu_ps(dst, (__mmask16)((1u << width) - 1), (__m512)a);
#define SN_S1_SPAN_f return (sn_vf)_mm512_maskz_loadu_ps((__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)), src);
#define SN_S1_SPAN_d return (sn_vd)_mm512_maskz_loadu_pd((__mmask8)(((1u << hi) - 1) & ~((1u << lo) - 1)), src);
#define SN_S1_TAIL_d _mm512_mask_storeu_pd(dst, (__mmask8)((1u << width) - 1), (__m512d)a);
#else
#define SN_S1_HEAD_GENERIC(S, T) if (n == sn_lanes_##S) return *(const sn_v##S*)src;                \
                                 T part[sn_lanes_##S] = {0}; memcpy(part, src, n * sizeof(T));      \
                                 return *(const sn_v##S*)part;
#define SN_S1_TAIL_GENERIC(S, T) T part[sn_lanes_##S]; *(sn_v##S*)part = a;                         \
                                 memcpy(dst, part, width * sizeof(T));
#define SN_S1_SPAN_GENERIC(S, T) T part[sn_lanes_##S] = {0};                                        \
                                 if (hi > lo) memcpy(part + lo, src + lo, (hi - lo) * sizeof(T));   \
                                 return *(const sn_v##S*)part;
#define SN_S1_SPAN_f SN_S1_SPAN_GENERIC(f, float)
#define SN_S1_SPAN_d SN_S1_SPAN_GENERIC(d, double)
#define SN_S1_HEAD_f SN_S1_HEAD_GENERIC(f, float)
#define SN_S1_HEAD_d SN_S1_HEAD_GENERIC(d, double)
#define SN_S1_TAIL_f SN_S1_TAIL_GENERIC(f, float)
#define SN_S1_TAIL_d SN_S1_TAIL_GENERIC(d, double)
#endif
/* the stride-1 kernels, for float (sn_vf, sn_s1_*_f) and double (sn_vd, sn_s1_*_d) */
#define SN_S1_CAT_(a, b) a##b
#define SN_S1_CAT(a, b) SN_S1_CAT_(a, b)
#define SN_S1_SUFFIX f
#define SN_S1_TYPE float
#include "direct_conv_s1.h"
#define SN_S1_SUFFIX d
#define SN_S1_TYPE double
#include "direct_conv_s1.h"

#endif  /* SN_DIRECT_CONV_H */
