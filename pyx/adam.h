/* adam.h: the C of Adam's update of one parameter array in one pass (pyx/adam.pyx).
 *
 * What it computes, element by element, with c1 = 1 - b1, c2 = 1 - b2, step = lr / (1 - b1^t) and
 * bias2 = sqrt(1 - b2^t) given in the array's precision:
 *   m = m b1 + c1 g;  v = v b2 + (c2 g) g;  p = p - (step m) / (sqrt(v) / bias2 + eps)
 * Adam.update_step's expressions (scratchnet/optim.py) in its order and precision, each operation rounded
 * once (the kernels are built without contraction into fused multiply-adds): bit-identical to it and to
 * the twin (scratchnet/fast/adam.py), where those make some thirteen passes over the arrays.
 * Data layout: flat C-contiguous arrays of n elements (the wrapper hands each thread a chunk). */
#ifndef SN_ADAM_H
#define SN_ADAM_H

#include <math.h>

#define SN_ADAM(SUFFIX, T, SQRT)                                                                       \
static void sn_adam_##SUFFIX(T* restrict p, const T* restrict g, T* restrict m, T* restrict v, T b1,   \
                             T c1, T b2, T c2, T step, T bias2, T eps, Py_ssize_t n) {                \
    for (Py_ssize_t i = 0; i < n; i++) {                                                             \
        T mi = m[i] * b1;                                                                            \
        mi = mi + c1 * g[i];                                                                         \
        T vi = v[i] * b2;                                                                            \
        vi = vi + c2 * g[i] * g[i];                                                                  \
        m[i] = mi;                                                                                   \
        v[i] = vi;                                                                                   \
        p[i] = p[i] - step * mi / (SQRT(vi) / bias2 + eps);                                          \
    }                                                                                                \
}
SN_ADAM(f, float, sqrtf)
SN_ADAM(d, double, sqrt)

#endif  /* SN_ADAM_H */
