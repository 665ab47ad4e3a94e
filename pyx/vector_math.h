/* vector_math.h: small maths the kernels share, written so the compiler vectorises the loops that use it
 * (no branches, no library calls, fixed summation order).
 *
 * sn_expf: e^a in float32 for a <= 0 (gelu.h, softmax.h).
 * sn_max_f/d: the largest of a row's n >= 1 entries (NaN entries are passed over), in lanes as below.
 * sn_sum_f/d, sn_dot_f/d: sums over a row in SN_LANES interleaved partial sums, added in a fixed order at
 * the end, so the result does not depend on the vector width the compiler picks (layernorm.h, softmax.h).
 * NumPy's own sums are pairwise: the kernels that use these agree with their twins to rounding. */
#ifndef SN_VECTOR_MATH_H
#define SN_VECTOR_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^a for a <= 0 in float32: a = k ln 2 + r with k = round(a / ln 2) and |r| <= ln 2 / 2 (ln 2 in two
 * parts, Cody and Waite's, so r is exact), e^r = 1 + r + r^2 P(r) with Cephes' degree-5 P (within about an
 * ulp), times 2^k built in the exponent bits. Below -87 (where e^a leaves float32's normal range) it gives
 * 0; NaN stays NaN. */
static inline float sn_expf(float a) {
    const float big = 12582912.0f;  /* 1.5 * 2^23: adding and removing it rounds to the nearest integer */
    float clamped = a < -87.0f ? -87.0f : a;
    float k = (clamped * 1.44269504088896341f + big) - big;
    float r = clamped - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float er = p * (r * r) + r + 1.0f;
    int32_t bits = ((int32_t)(k == k ? k : 0.0f) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return a < -87.0f ? 0.0f : er * scale;
}

#define SN_LANES 16

#define SN_ROW_SUMS(SUFFIX, T)                                                                         \
static inline T sn_sum_##SUFFIX(const T* restrict a, Py_ssize_t n) {                                  \
    T lane[SN_LANES] = {0}, total = 0;                                                                \
    Py_ssize_t i = 0;                                                                                 \
    for (; i + SN_LANES <= n; i += SN_LANES)                                                          \
        for (int j = 0; j < SN_LANES; j++) lane[j] += a[i + j];                                       \
    for (; i < n; i++) total += a[i];                                                                 \
    for (int j = 0; j < SN_LANES; j++) total += lane[j];                                              \
    return total;                                                                                     \
}                                                                                                     \
static inline T sn_dot_##SUFFIX(const T* restrict a, const T* restrict b, Py_ssize_t n) {            \
    T lane[SN_LANES] = {0}, total = 0;                                                                \
    Py_ssize_t i = 0;                                                                                 \
    for (; i + SN_LANES <= n; i += SN_LANES)                                                          \
        for (int j = 0; j < SN_LANES; j++) lane[j] += a[i + j] * b[i + j];                            \
    for (; i < n; i++) total += a[i] * b[i];                                                          \
    for (int j = 0; j < SN_LANES; j++) total += lane[j];                                              \
    return total;                                                                                     \
}                                                                                                     \
static inline T sn_max_##SUFFIX(const T* restrict a, Py_ssize_t n) {                                  \
    T lane[SN_LANES], top = a[0];                                                                     \
    for (int j = 0; j < SN_LANES; j++) lane[j] = a[0];                                                \
    Py_ssize_t i = 0;                                                                                 \
    for (; i + SN_LANES <= n; i += SN_LANES)                                                          \
        for (int j = 0; j < SN_LANES; j++) lane[j] = a[i + j] > lane[j] ? a[i + j] : lane[j];         \
    for (; i < n; i++) top = a[i] > top ? a[i] : top;                                                 \
    for (int j = 0; j < SN_LANES; j++) top = lane[j] > top ? lane[j] : top;                           \
    return top;                                                                                       \
}
SN_ROW_SUMS(f, float)
SN_ROW_SUMS(d, double)

#endif  /* SN_VECTOR_MATH_H */
