# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One LSTM step's element-wise work in one pass per row (see ``scratchnet/ops/lstm_cell.py`` for the
equations and the twin).

The twin makes about a dozen NumPy passes over the step's (N, 4H) and (N, H) arrays, each a separate call;
at the course's sizes those passes were about a third of an LSTM layer's time. Here each row is one loop.

* ``backward_step`` does the twin's operations in the twin's order (float32 and float64): bit-identical.
* ``forward_step`` (float32) needs tanh, which the C library computes one scalar at a time; ``sn_tanhf``
  below is written so the compiler vectorises it: an odd polynomial near zero, ``1 - 2/(e^{2|x|} + 1)``
  elsewhere, with e^y from a polynomial on [-ln2/2, ln2/2] scaled by 2^k through the exponent bits. Its
  error is within ``TANH_ERROR`` (1e-7) of the exact value over all float32 inputs (tested on a dense
  sweep); NaN stays NaN. float64 forward steps go to the twin.

Arrays the kernels do not take (not C-contiguous, mixed dtypes) go to the twin. Single-threaded: one step is
too small to share out, and the step's matrix product runs on OpenBLAS's threads right before.
"""

import numpy as np

from cython cimport floating

from kernel_helpers cimport sn_pick_f  # noqa: F401  (its C block defines the blend the C code below uses)

from scratchnet.ops import lstm_cell as twin
from scratchnet.ops.arguments import kernel_takes

__all__ = ["forward_step", "backward_step", "tanh"]

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include <math.h>
    /* selects are sn_pick_f (kernel_helpers.pxd): GCC turns a plain ?: here into a branch (it will not
       speculate the float-to-int conversion below), and a loop with a branch is not vectorised */
    /* e^x for 0 <= x (clamped at 88, where e^x is still finite): x = k ln2 + r, e^r by Cephes' expf
       polynomial, 2^k written into the exponent bits */
    static inline float sn_expf_nonneg(float x) {
        x = sn_pick_f(x < 88.0f, x, 88.0f);
        int32_t ki = (int32_t)(x * 1.44269504088896341f + 0.5f);  /* round(x / ln2): truncation, as x >= 0 */
        float k = (float)ki;
        float r = x - k * 0.693359375f;
        r = r + k * 2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        int32_t bits = (ki + 127) << 23;
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        return p * scale;
    }
    /* tanh(x): Cephes' tanhf polynomial for |x| < 0.625, 1 - 2/(e^{2|x|} + 1) beyond; the sign restored */
    static inline float sn_tanhf(float x) {
        float ax = fabsf(x);
        float z = x * x;
        float q = -5.70498872745e-3f;
        q = q * z + 2.06390887954e-2f;
        q = q * z - 5.37397155531e-2f;
        q = q * z + 1.33314422036e-1f;
        q = q * z - 3.33332819422e-1f;
        float small = ax + ax * z * q;
        float big = 1.0f - 2.0f / (sn_expf_nonneg(2.0f * ax) + 1.0f);
        float r = sn_pick_f(ax < 0.625f, small, big);
        return sn_pick_f(x != x, x, copysignf(r, x));
    }
    static __attribute__((noinline)) void sn_tanh_f(const float* restrict x, float* restrict y, Py_ssize_t n) {
        for (Py_ssize_t k = 0; k < n; k++) y[k] = sn_tanhf(x[k]);
    }
    /* the twin's sigmoid: a*0.5, tanh, *0.5, +0.5 */
    static inline float sn_sigmoidf(float a) { return sn_tanhf(a * 0.5f) * 0.5f + 0.5f; }
    static __attribute__((noinline)) void sn_lstm_forward_row(float* restrict g4, const float* restrict hw, const float* restrict c_prev,
                                    const float* restrict h_prev, float* restrict c_new, float* restrict tc,
                                    float* restrict h_new, Py_ssize_t H, int masked, float m) {
        for (Py_ssize_t j = 0; j < H; j++) {
            float i = sn_sigmoidf(g4[j] + hw[j]);
            float f = sn_sigmoidf(g4[H + j] + hw[H + j]);
            float g = sn_tanhf(g4[2 * H + j] + hw[2 * H + j]);
            float o = sn_sigmoidf(g4[3 * H + j] + hw[3 * H + j]);
            g4[j] = i; g4[H + j] = f; g4[2 * H + j] = g; g4[3 * H + j] = o;
            float c = f * c_prev[j];
            c = c + i * g;
            float t = sn_tanhf(c);
            tc[j] = t;
            float h = o * t;
            if (masked) {
                c = (c - c_prev[j]) * m + c_prev[j];
                h = (h - h_prev[j]) * m + h_prev[j];
            }
            c_new[j] = c;
            h_new[j] = h;
        }
    }
    #define SN_LSTM_BACKWARD_ROW(NAME, T)                                                                  \
    static __attribute__((noinline)) void NAME(const T* restrict g4, const T* restrict tc, const T* restrict c_prev, T* restrict dh, \
                     T* restrict dc, T* restrict d, Py_ssize_t H, int masked, T m) {                      \
        for (Py_ssize_t j = 0; j < H; j++) {                                                            \
            T i = g4[j], f = g4[H + j], g = g4[2 * H + j], o = g4[3 * H + j], t = tc[j];                \
            T gh = dh[j], gc = dc[j], rest = 0;                                                         \
            if (masked) {                                                                               \
                gh = dh[j] * m; dh[j] = dh[j] - gh;                                                     \
                gc = dc[j] * m; rest = dc[j] - gc;                                                      \
            }                                                                                           \
            T d_o = gh * t;                                                                             \
            T tmp = t * t; tmp = 1 - tmp; tmp = tmp * o; tmp = tmp * gh;                                \
            gc = gc + tmp;                                                                              \
            T d_i = gc * g, d_f = gc * c_prev[j], d_g = gc * i;                                         \
            d[j] = d_i * (i - i * i);                                                                   \
            d[H + j] = d_f * (f - f * f);                                                               \
            d[2 * H + j] = d_g * (1 - g * g);                                                           \
            d[3 * H + j] = d_o * (o - o * o);                                                           \
            dc[j] = masked ? rest + gc * f : gc * f;                                                    \
        }                                                                                               \
    }
    SN_LSTM_BACKWARD_ROW(sn_lstm_backward_row_f, float)
    SN_LSTM_BACKWARD_ROW(sn_lstm_backward_row_d, double)
    """
    void sn_tanh_f(const float* x, float* y, Py_ssize_t n) noexcept nogil
    void sn_lstm_forward_row(float* g4, const float* hw, const float* c_prev, const float* h_prev, float* c_new,
                             float* tc, float* h_new, Py_ssize_t H, int masked, float m) noexcept nogil
    void sn_lstm_backward_row_f(const float* g4, const float* tc, const float* c_prev, float* dh, float* dc,
                                float* d, Py_ssize_t H, int masked, float m) noexcept nogil
    void sn_lstm_backward_row_d(const double* g4, const double* tc, const double* c_prev, double* dh,
                                double* dc, double* d, Py_ssize_t H, int masked, double m) noexcept nogil


def _check_step(g4, rows, mask):
    """The shapes the loops below rely on: g4 (N, 4H), every other row array (N, H), mask (N, 1)."""
    if rows[0].ndim != 2:
        raise ValueError(f"lstm_cell: expected (N, H) state arrays, got {rows[0].shape}")
    n, H = rows[0].shape
    if g4.shape != (n, 4 * H) or any(a.shape != (n, H) for a in rows):
        raise ValueError(f"lstm_cell: expected g4 (N, 4H) and (N, H) state arrays, got {g4.shape}, "
                         f"{[a.shape for a in rows]}")
    if mask is not None and mask.shape != (n, 1):
        raise ValueError(f"lstm_cell: mask must have shape ({n}, 1), got {mask.shape}")
    return n, H


def tanh(x):
    """The kernels' float32 tanh, elementwise over a C-contiguous float32 array (exposed for its tests)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.empty_like(x)
    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] yv = y.reshape(-1)
    if x.size:
        with nogil:
            sn_tanh_f(&xv[0], &yv[0], xv.shape[0])
    return y


def forward_step(g4, hw, c_prev, h_prev, c_new, tc, h_new, mask=None):
    """The twin's ``forward_step`` in one pass per row (float32; other arrays go to the twin)."""
    arrays = (g4, hw, c_prev, h_prev, c_new, tc, h_new) + (() if mask is None else (mask,))
    if not kernel_takes(arrays, (np.float32,)) or g4.ndim != 2 or hw.shape != g4.shape:
        return twin.forward_step(g4, hw, c_prev, h_prev, c_new, tc, h_new, mask)
    n, H = _check_step(g4, (c_prev, h_prev, c_new, tc, h_new), mask)
    _forward_rows(g4, hw, c_prev, h_prev, c_new, tc, h_new, mask, n, H)


def _forward_rows(float[:, ::1] g4, const float[:, ::1] hw, const float[:, ::1] c_prev,
                  const float[:, ::1] h_prev, float[:, ::1] c_new, float[:, ::1] tc, float[:, ::1] h_new, mask,
                  Py_ssize_t n, Py_ssize_t H):
    cdef const float[:, ::1] m
    cdef Py_ssize_t r
    cdef int masked = mask is not None
    if n == 0 or H == 0:
        return
    if masked:
        m = mask
    with nogil:
        for r in range(n):
            sn_lstm_forward_row(&g4[r, 0], &hw[r, 0], &c_prev[r, 0], &h_prev[r, 0], &c_new[r, 0], &tc[r, 0],
                                &h_new[r, 0], H, masked, m[r, 0] if masked else 1)


def backward_step(g4, tc, c_prev, dh, dc, d, mask=None, scratch=None):
    """The twin's ``backward_step`` in one pass per row, bit-identical (float32 and float64)."""
    arrays = (g4, tc, c_prev, dh, dc, d) + (() if mask is None else (mask,))
    if not kernel_takes(arrays) or g4.ndim != 2 or d.shape != g4.shape:
        return twin.backward_step(g4, tc, c_prev, dh, dc, d, mask, scratch)
    n, H = _check_step(g4, (tc, c_prev, dh, dc), mask)
    if n and H:
        _backward_rows(g4, tc, c_prev, dh, dc, d, mask, n, H)


def _backward_rows(const floating[:, ::1] g4, const floating[:, ::1] tc, const floating[:, ::1] c_prev,
                   floating[:, ::1] dh, floating[:, ::1] dc, floating[:, ::1] d, mask, Py_ssize_t n, Py_ssize_t H):
    cdef const floating[:, ::1] m
    cdef Py_ssize_t r
    cdef int masked = mask is not None
    if masked:
        m = mask
    with nogil:
        for r in range(n):
            if floating is float:
                sn_lstm_backward_row_f(&g4[r, 0], &tc[r, 0], &c_prev[r, 0], &dh[r, 0], &dc[r, 0], &d[r, 0], H,
                                       masked, m[r, 0] if masked else 1)
            else:
                sn_lstm_backward_row_d(&g4[r, 0], &tc[r, 0], &c_prev[r, 0], &dh[r, 0], &dc[r, 0], &d[r, 0], H,
                                       masked, m[r, 0] if masked else 1)
