/* layernorm.h: the C of LayerNorm over the last axis, forward and backward (pyx/layernorm.pyx).
 *
 * What it computes, row by row (a row is one position's d features):
 *   forward:  mean = sum(x) / d, c = x - mean, var = sum(c c) / d, inv_std = 1 / sqrt(var + eps),
 *             x_hat = c inv_std, y = x_hat gamma + beta (x_hat and inv_std kept for backward);
 *   backward: gh = dout gamma, dx = inv_std (gh - sum(gh) / d - x_hat sum(gh x_hat) / d), and each block
 *             of SN_LN_BLOCK rows adds its sum(dout x_hat) and sum(dout) into one row of the partial sums,
 *             which the wrapper adds over the blocks for d gamma and d beta.
 * The layer's expressions in its order (scratchnet/layers/layernorm's LayerNorm), with the row sums in
 * vector_math.h's fixed lanes. NumPy twin: scratchnet/fast/layernorm.py: equal to rounding.
 * Data layout: C-contiguous (rows, d) arrays; gamma, beta (d,); inv_std (rows,); partials (blocks, d). */
#ifndef SN_LAYERNORM_H
#define SN_LAYERNORM_H

#include <math.h>

#include "vector_math.h"

#define SN_LN_BLOCK 64  /* rows per block of the parameter-gradient partial sums */

#define SN_LAYERNORM(SUFFIX, T, SQRT)                                                                  \
static void sn_layernorm_##SUFFIX(const T* restrict x, const T* restrict gamma, const T* restrict beta, \
                                  T eps, T* restrict y, T* restrict x_hat, T* restrict inv_std,       \
                                  Py_ssize_t rows, Py_ssize_t d) {                                    \
    for (Py_ssize_t r = 0; r < rows; r++) {                                                           \
        const T* xr = x + r * d;                                                                      \
        T* c = x_hat + r * d;                                                                         \
        T mean = sn_sum_##SUFFIX(xr, d) / (T)d;                                                       \
        for (Py_ssize_t i = 0; i < d; i++) c[i] = xr[i] - mean;                                       \
        T inv = (T)1 / SQRT(sn_dot_##SUFFIX(c, c, d) / (T)d + eps);                                   \
        inv_std[r] = inv;                                                                             \
        for (Py_ssize_t i = 0; i < d; i++) {                                                          \
            c[i] = c[i] * inv;                                                                        \
            y[r * d + i] = c[i] * gamma[i] + beta[i];                                                 \
        }                                                                                             \
    }                                                                                                 \
}                                                                                                     \
/* rows [lo, hi) of one block; dgamma and dbeta are that block's rows of the partial sums (zeroed) */  \
static void sn_layernorm_backward_##SUFFIX(const T* restrict dout, const T* restrict x_hat,           \
                                           const T* restrict inv_std, const T* restrict gamma,        \
                                           T* restrict dx, T* restrict dgamma, T* restrict dbeta,     \
                                           Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t d) {              \
    for (Py_ssize_t r = lo; r < hi; r++) {                                                            \
        const T* g = dout + r * d;                                                                    \
        const T* xh = x_hat + r * d;                                                                  \
        T* gh = dx + r * d;                                                                           \
        for (Py_ssize_t i = 0; i < d; i++) {                                                          \
            gh[i] = g[i] * gamma[i];                                                                  \
            dgamma[i] += g[i] * xh[i];                                                                \
            dbeta[i] += g[i];                                                                         \
        }                                                                                             \
        T mean_gh = sn_sum_##SUFFIX(gh, d) / (T)d;                                                    \
        T mean_ghx = sn_dot_##SUFFIX(gh, xh, d) / (T)d;                                               \
        T inv = inv_std[r];                                                                           \
        for (Py_ssize_t i = 0; i < d; i++) gh[i] = inv * (gh[i] - mean_gh - xh[i] * mean_ghx);        \
    }                                                                                                 \
}
SN_LAYERNORM(f, float, sqrtf)
SN_LAYERNORM(d, double, sqrt)

#endif  /* SN_LAYERNORM_H */
