/* gelu.h: the C of GELU's exact form, forward and backward (pyx/gelu.pyx).
 *
 * What it computes: phi = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF, and y = x phi (forward, which
 * keeps phi for backward); dx = dout (phi + x exp(-x^2 / 2) / sqrt(2 pi)) (backward).
 * float32: erf is the twin's own single-precision evaluation (Cody's first two rational pieces, chosen by
 * |z| with a select, erf = +-1 past |z| = 4; scratchnet/layers/activations.py, _erf_single), the same
 * float32 operations in the same order, and exp is sn_expf (vector_math.h). No branches and no library calls, so
 * the compiler vectorises the loops; the C library's erff is a scalar call some 20 times slower.
 * float64: the C library's erf and exp, one call per element (float64 is for gradient checks, not speed).
 * NumPy twin: scratchnet/fast/gelu.py (and the layer's own code, scratchnet/layers/activations.py): equal
 * within the bound stated in the twin.
 * Data layout: flat C-contiguous arrays of n elements (the wrapper hands each thread a chunk). */
#ifndef SN_GELU_H
#define SN_GELU_H

#include <math.h>

#include "vector_math.h"

/* (lead z^k + num[0] z^(k-1) + ... + num[k-1]) / (z^k + den[0] z^(k-1) + ... + den[k-1]) in float32, by
 * the twin's Horner order (_horner_ratio). */
static inline float sn_ratiof(float z, float lead, const float* num, const float* den, int k) {
    float p = lead * z, q = z;
    for (int i = 0; i < k - 1; i++) {
        p = (p + num[i]) * z;
        q = (q + den[i]) * z;
    }
    return (p + num[k - 1]) / (q + den[k - 1]);
}

/* Cody's coefficients (the twin's _ERF_A/_ERF_B for |z| <= 0.46875, _ERFC_C/_ERFC_D up to 4), in float32. */
static const float sn_erf_a[4] = {3.16112374387056560e00f, 1.13864154151050156e02f, 3.77485237685302021e02f,
                                  3.20937758913846947e03f};
static const float sn_erf_b[4] = {2.36012909523441209e01f, 2.44024637934444173e02f, 1.28261652607737228e03f,
                                  2.84423683343917062e03f};
static const float sn_erfc_c[8] = {5.64188496988670089e-1f, 8.88314979438837594e00f, 6.61191906371416295e01f,
                                   2.98635138197400131e02f, 8.81952221241769090e02f, 1.71204761263407058e03f,
                                   2.05107837782607147e03f, 1.23033935479799725e03f};
static const float sn_erfc_d[8] = {1.57449261107098347e01f, 1.17693950891312499e02f, 5.37181101862009858e02f,
                                   1.62138957456669019e03f, 3.29079923573345963e03f, 4.36261909014324716e03f,
                                   3.43936767414372164e03f, 1.23033935480374942e03f};

static inline float sn_erff(float z) {
    float y = fabsf(z);
    y = y > 4.0f ? 4.0f : y;  /* written so that NaN stays NaN */
    float s = y * y;
    float small = z * sn_ratiof(s, 1.85777706184603153e-1f, sn_erf_a, sn_erf_b, 4);
    float erfc = sn_ratiof(y, 2.15311535474403846e-8f, sn_erfc_c, sn_erfc_d, 8) * sn_expf(-s);
    return y <= 0.46875f ? small : copysignf(1.0f - erfc, z);
}

#define SN_GELU(NAME, T, ERF)                                                                          \
static void NAME(const T* restrict x, T* restrict y, T* restrict phi, Py_ssize_t n) {                \
    for (Py_ssize_t i = 0; i < n; i++) {                                                             \
        T p = (T)0.5 * ((T)1 + ERF(x[i] * (T)0.70710678118654752440));                               \
        phi[i] = p;                                                                                  \
        y[i] = x[i] * p;                                                                             \
    }                                                                                                \
}
#define SN_GELU_BACKWARD(NAME, T, EXP)                                                                 \
static void NAME(const T* restrict dout, const T* restrict x, const T* restrict phi, T* restrict dx, \
                 Py_ssize_t n) {                                                                     \
    for (Py_ssize_t i = 0; i < n; i++) {                                                             \
        T density = EXP((T)-0.5 * x[i] * x[i]) * (T)0.39894228040143267794;                          \
        dx[i] = dout[i] * (phi[i] + x[i] * density);                                                 \
    }                                                                                                \
}
SN_GELU(sn_gelu_f, float, sn_erff)
SN_GELU(sn_gelu_d, double, erf)
SN_GELU_BACKWARD(sn_gelu_backward_f, float, sn_expf)
SN_GELU_BACKWARD(sn_gelu_backward_d, double, exp)

#endif  /* SN_GELU_H */
