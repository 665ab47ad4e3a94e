/* relu.h: the C of ReLU forward and backward (pyx/relu.pyx).
 *
 * What it computes: y = max(0, x) as np.maximum(x, 0) (x when x > 0 or NaN, else +0), in place or not,
 * and dx = dout * (x > 0) with the mask as 1 or 0 (inf * 0 is NaN, as in NumPy).
 * NumPy twin: scratchnet/fast/relu.py: bit-identical.
 * Data layout: flat C-contiguous arrays of n elements (the wrapper hands each thread a chunk). */
#ifndef SN_RELU_H
#define SN_RELU_H

/* y = max(0, x) as np.maximum(x, 0): x itself when x > 0 or x is NaN, else +0 */
#define SN_RELU(NAME, T)                                                                               \
static void NAME(const T* restrict x, T* restrict y, Py_ssize_t n) {                                \
    for (Py_ssize_t i = 0; i < n; i++) y[i] = (x[i] > 0 || x[i] != x[i]) ? x[i] : (T)0;             \
}
/* dx = dout * (x > 0), the mask as 1 or 0 (so inf * 0 is NaN, as in NumPy) */
#define SN_RELU_BACKWARD(NAME, T)                                                                      \
static void NAME(const T* restrict dout, const T* restrict x, T* restrict dx, Py_ssize_t n) {      \
    for (Py_ssize_t i = 0; i < n; i++) dx[i] = dout[i] * (T)(x[i] > 0);                             \
}
/* the same in place (x and y one array: no restrict) */
#define SN_RELU_IN_PLACE(NAME, T)                                                                      \
static void NAME(T* x, Py_ssize_t n) {                                                              \
    for (Py_ssize_t i = 0; i < n; i++) x[i] = (x[i] > 0 || x[i] != x[i]) ? x[i] : (T)0;             \
}
SN_RELU(sn_relu_f, float)
SN_RELU(sn_relu_d, double)
SN_RELU_IN_PLACE(sn_relu_in_place_f, float)
SN_RELU_IN_PLACE(sn_relu_in_place_d, double)
SN_RELU_BACKWARD(sn_relu_backward_f, float)
SN_RELU_BACKWARD(sn_relu_backward_d, double)

#endif  /* SN_RELU_H */
