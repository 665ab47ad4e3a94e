/* pooling.h: the C of 2x2 stride-2 max pooling inside the image (pyx/pooling.pyx).
 *
 * What it computes: one output row of 2x2 / stride 2 max pooling from two input rows, and the argmax
 * (plane index h*W + w) of each window, with the general loop's rule (the first maximum or the first NaN
 * wins), branch-free: as blends (sn_pick_*, kernel_helpers.h) the compiler vectorises, or with AVX-512
 * for float32 (sn_maxpool2_f).
 * NumPy twin: scratchnet/maths/pooling.py (maxpool_forward): bit-identical, argmax included.
 * Data layout: x (N, C, H, W) C-contiguous; r0 points at input row 2*yo of a plane (row 2*yo + 1 is
 * r0 + W), out and arg at output row yo (OW entries, int32 plane indices). */
#ifndef SN_POOLING_H
#define SN_POOLING_H

/* 2x2 windows at stride 2 that stay inside the image (the usual pooling): one output row from two input
   rows, the window's four pixels met in the general loop's order with its rule (v takes over when it is
   greater, or NaN while the best is not: the first maximum or the first NaN wins), as blends
   (sn_pick_*, kernel_helpers.h: GCC 12 does not vectorise a chain of ?: fed by comparisons), so the
   compiler vectorises along the row instead of branching on every comparison (a coin flip on real
   data). first: the plane index of r0[0] */
#define SN_MAXPOOL2(NAME, T, PICK)                                                                    \
static void NAME(const T* restrict r0, T* restrict out, int* restrict arg, int first, int W, int OW) { \
    const T* restrict r1 = r0 + W;                                                                    \
    for (int xo = 0; xo < OW; xo++) {                                                                 \
        const T b = r0[2 * xo + 1], c = r1[2 * xo], d = r1[2 * xo + 1];                               \
        T best = r0[2 * xo];                                                                          \
        int bi = first + 2 * xo, take;                                                                \
        take = (best == best) & !(b <= best);                                                         \
        best = PICK(take, b, best);                                                                   \
        bi = sn_pick_i(take, first + 2 * xo + 1, bi);                                                 \
        take = (best == best) & !(c <= best);                                                         \
        best = PICK(take, c, best);                                                                   \
        bi = sn_pick_i(take, first + W + 2 * xo, bi);                                                 \
        take = (best == best) & !(d <= best);                                                         \
        best = PICK(take, d, best);                                                                   \
        bi = sn_pick_i(take, first + W + 2 * xo + 1, bi);                                             \
        out[xo] = best;                                                                               \
        arg[xo] = bi;                                                                                 \
    }                                                                                                 \
}
SN_MAXPOOL2(sn_maxpool2_rows_f, float, sn_pick_f)
SN_MAXPOOL2(sn_maxpool2_d, double, sn_pick_d)
#if defined(__AVX512F__)
#include <immintrin.h>
/* float32 with AVX-512: 16 windows at a time, the row's last ones through masked loads and stores, so
   rows shorter than a vector (the course's 14 and 7 windows) run vectorised too. The same comparisons
   in the same order: take = best is not NaN and not (v <= best), both ordered (false on NaN). */
static void sn_maxpool2_f(const float* restrict r0, float* restrict out, int* restrict arg, int first, int W,
                          int OW) {
    const float* restrict r1 = r0 + W;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int xo = 0; xo < OW; xo += 16) {
        const int n = OW - xo < 16 ? OW - xo : 16;
        const __mmask16 lo = (__mmask16)((1u << (2 * n < 16 ? 2 * n : 16)) - 1);
        const __mmask16 hi = (__mmask16)(2 * n > 16 ? (1u << (2 * n - 16)) - 1 : 0);
        const __mmask16 keep = (__mmask16)((1u << n) - 1);
        const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * xo), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * xo + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * xo), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * xo + 16);
        const __m512 a = _mm512_permutex2var_ps(a0, even, a1), b = _mm512_permutex2var_ps(a0, odd, a1);
        const __m512 c = _mm512_permutex2var_ps(b0, even, b1), d = _mm512_permutex2var_ps(b0, odd, b1);
        const __m512i base = _mm512_add_epi32(_mm512_set1_epi32(first + 2 * xo), even);  /* a's indices */
        __m512 best = a;
        __m512i bi = base;
        __mmask16 take = _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q) & ~_mm512_cmp_ps_mask(b, best, _CMP_LE_OQ);
        best = _mm512_mask_blend_ps(take, best, b);
        bi = _mm512_mask_blend_epi32(take, bi, _mm512_add_epi32(base, _mm512_set1_epi32(1)));
        take = _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q) & ~_mm512_cmp_ps_mask(c, best, _CMP_LE_OQ);
        best = _mm512_mask_blend_ps(take, best, c);
        bi = _mm512_mask_blend_epi32(take, bi, _mm512_add_epi32(base, _mm512_set1_epi32(W)));
        take = _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q) & ~_mm512_cmp_ps_mask(d, best, _CMP_LE_OQ);
        best = _mm512_mask_blend_ps(take, best, d);
        bi = _mm512_mask_blend_epi32(take, bi, _mm512_add_epi32(base, _mm512_set1_epi32(W + 1)));
        _mm512_mask_storeu_ps(out + xo, keep, best);
        _mm512_mask_storeu_epi32(arg + xo, keep, bi);
    }
}
#else
#define sn_maxpool2_f sn_maxpool2_rows_f
#endif

#endif  /* SN_POOLING_H */
