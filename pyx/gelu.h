/* gelu.h: the C of GELU's exact form, forward and backward (pyx/gelu.pyx).
 *
 * What it computes: phi = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF, and y = x phi (forward, which
 * keeps phi for backward); dx = dout (phi + x exp(-x^2 / 2) / sqrt(2 pi)) (backward), with the C library's
 * erf / erff and exp / expf in the input's precision.
 * NumPy twin: scratchnet/fast/gelu.py (and the layer's own code, scratchnet/layers/activations.py), which
 * computes erf by Cody's rational approximation: equal within the bound stated in the twin.
 * Data layout: flat C-contiguous arrays of n elements (the wrapper hands each thread a chunk). */
#ifndef SN_GELU_H
#define SN_GELU_H

#include <math.h>

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
SN_GELU(sn_gelu_f, float, erff)
SN_GELU(sn_gelu_d, double, erf)
SN_GELU_BACKWARD(sn_gelu_backward_f, float, expf)
SN_GELU_BACKWARD(sn_gelu_backward_d, double, exp)

#endif  /* SN_GELU_H */
