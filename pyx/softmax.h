/* softmax.h: the C of attention's softmax over rows of scores and its Jacobian-vector product
 * (pyx/softmax.pyx).
 *
 * What it computes, in place, for rows of n scores (the rows of N*H stacks of (T, T) score matrices):
 *   forward:  p = exp(s - max(s)) / sum(exp(s - max(s))) over the row's first `keep` entries, 0 after them
 *             (keep = n, or keep = t + 1 for row t of a causal (T, T) matrix: query t reads keys s <= t);
 *   backward: ds = (dp - sum(dp p)) p, row by row (the softmax's Jacobian-vector product; p is 0 where
 *             masked, so ds is too).
 * The expressions of attention's masked_softmax and backward (scratchnet/layers/attention.py) in their
 * order; exp is vector_math.h's sn_expf in float32 (the C library's in float64), the row sums in its fixed
 * lanes. NumPy twin: scratchnet/fast/softmax.py: equal to rounding. */
#ifndef SN_SOFTMAX_H
#define SN_SOFTMAX_H

#include <math.h>

#include "vector_math.h"

#define SN_SOFTMAX(SUFFIX, T, EXP)                                                                     \
static void sn_softmax_rows_##SUFFIX(T* restrict s, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t n,        \
                                     int causal) {                                                    \
    for (Py_ssize_t r = lo; r < hi; r++) {                                                            \
        T* row = s + r * n;                                                                           \
        Py_ssize_t keep = causal ? r % n + 1 : n;                                                     \
        T top = sn_max_##SUFFIX(row, keep);                                                           \
        for (Py_ssize_t i = 0; i < keep; i++) row[i] = EXP(row[i] - top);                             \
        T total = sn_sum_##SUFFIX(row, keep);                                                         \
        for (Py_ssize_t i = 0; i < keep; i++) row[i] = row[i] / total;                                \
        for (Py_ssize_t i = keep; i < n; i++) row[i] = 0;                                             \
    }                                                                                                 \
}                                                                                                     \
static void sn_softmax_backward_rows_##SUFFIX(T* restrict ds, const T* restrict p, Py_ssize_t lo,     \
                                              Py_ssize_t hi, Py_ssize_t n) {                          \
    for (Py_ssize_t r = lo; r < hi; r++) {                                                            \
        T* g = ds + r * n;                                                                            \
        const T* pr = p + r * n;                                                                      \
        T dot = sn_dot_##SUFFIX(g, pr, n);                                                            \
        for (Py_ssize_t i = 0; i < n; i++) g[i] = (g[i] - dot) * pr[i];                               \
    }                                                                                                 \
}
SN_SOFTMAX(f, float, sn_expf)
SN_SOFTMAX(d, double, exp)

#endif  /* SN_SOFTMAX_H */
