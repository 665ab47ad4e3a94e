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

* ``forward_sequence`` / ``backward_sequence`` (float32, no padding mask) run the whole time loop in one
  OpenMP parallel region: per step, the product ``h W_h`` (or ``dA W_h^T``) shared out by panels of 64
  columns, each a register tile of 5 rows that reads ``W_h`` in place (OpenBLAS copied, "packed", all of
  ``W_h`` on every step: 13% of the layer's profile at H=650), then the rows of the step above, with a
  barrier between the two that spins briefly and then sleeps (``sn_spin_wait``). Panels and rows are
  handed out as threads ask for them, so a thread that shares its core with another process does less;
  the team is never larger than the CPUs the process may use (``sn_lockstep_threads_for``). Each output
  element is computed by one thread in a fixed order, so results do not depend on the thread count; the products' sums run in their own order
  (fused multiply-adds down k), so they equal the twin's NumPy products to rounding. The layer's
  whole-sequence products run on the same threads (``ops/recurrent.py``): OpenBLAS's pool, spinning after
  its own products, took half the cores from the spinning team.

Arrays the kernels do not take (not C-contiguous, mixed dtypes) go to the twin. The single steps are
single-threaded: one step is too small to share out.
"""

import numpy as np

from cython cimport floating

from cython.parallel cimport parallel

from kernel_helpers cimport sn_pick_f, sn_share_thread_setting, sn_team_size, sn_lockstep_threads_for  # sn_pick_f: used by the C code below

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.ops import lstm_cell as twin
from scratchnet.ops.arguments import kernel_takes

__all__ = ["forward_step", "backward_step", "forward_sequence", "backward_sequence", "tanh"]

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

    /* ---- the whole forward time loop in one parallel region (float32, no mask) ------------------------ */
    #if defined(__AVX512F__)
    #define SN_SEQ_BYTES 64
    #define SN_SEQ_ROWS 5
    #define SN_SEQ_VECTORS 4
    #else
    #define SN_SEQ_BYTES 32
    #define SN_SEQ_ROWS 4
    #define SN_SEQ_VECTORS 3
    #endif
    typedef float sn_seq_v __attribute__((vector_size(SN_SEQ_BYTES), aligned(4), may_alias));
    enum { SN_SEQ_LANES = SN_SEQ_BYTES / 4, SN_SEQ_PANEL = SN_SEQ_VECTORS * SN_SEQ_LANES };
    /* c[r, :PANEL] = sum over k of a[r, k] b[k, :PANEL] for R rows: the tile stays in registers */
    #define SN_SEQ_TILE(NAME, R)                                                                           \
    SN_FUSED static void NAME(const float* restrict a, Py_ssize_t lda, const float* restrict b,       \
                                  Py_ssize_t ldb, float* restrict c, Py_ssize_t ldc, Py_ssize_t K) {     \
        sn_seq_v acc[R][SN_SEQ_VECTORS];                                                                  \
        for (int r = 0; r < R; r++)                                                                       \
            for (int v = 0; v < SN_SEQ_VECTORS; v++) acc[r][v] = (sn_seq_v){0};                           \
        for (Py_ssize_t k = 0; k < K; k++) {                                                              \
            sn_seq_v bv[SN_SEQ_VECTORS];                                                                  \
            for (int v = 0; v < SN_SEQ_VECTORS; v++) bv[v] = *(const sn_seq_v*)(b + k * ldb + v * SN_SEQ_LANES); \
            for (int r = 0; r < R; r++) {                                                                 \
                const float s = a[r * lda + k];                                                           \
                for (int v = 0; v < SN_SEQ_VECTORS; v++) acc[r][v] += s * bv[v];                         \
            }                                                                                             \
        }                                                                                                 \
        for (int r = 0; r < R; r++)                                                                       \
            for (int v = 0; v < SN_SEQ_VECTORS; v++) *(sn_seq_v*)(c + r * ldc + v * SN_SEQ_LANES) = acc[r][v]; \
    }
    SN_SEQ_TILE(sn_seq_tile, SN_SEQ_ROWS)
    SN_SEQ_TILE(sn_seq_tile1, 1)
    /* hw[:, panel p] = h @ wh[:, panel p]; the last, partial panel reads tail (K x PANEL, zero-padded) */
    static void sn_seq_panel(const float* h, const float* wh, const float* tail, float* hw, Py_ssize_t p,
                             Py_ssize_t N, Py_ssize_t K, Py_ssize_t G) {
        float buffer[SN_SEQ_ROWS * SN_SEQ_PANEL];
        const Py_ssize_t j0 = p * SN_SEQ_PANEL, cols = G - j0 < SN_SEQ_PANEL ? G - j0 : SN_SEQ_PANEL;
        const float* b = cols == SN_SEQ_PANEL ? wh + j0 : tail;
        const Py_ssize_t ldb = cols == SN_SEQ_PANEL ? G : SN_SEQ_PANEL;
        Py_ssize_t m0 = 0;
        for (; m0 + SN_SEQ_ROWS <= N; m0 += SN_SEQ_ROWS) {
            if (cols == SN_SEQ_PANEL) {
                sn_seq_tile(h + m0 * K, K, b, ldb, hw + m0 * G + j0, G, K);
            } else {
                sn_seq_tile(h + m0 * K, K, b, ldb, buffer, SN_SEQ_PANEL, K);
                for (int r = 0; r < SN_SEQ_ROWS; r++) memcpy(hw + (m0 + r) * G + j0, buffer + r * SN_SEQ_PANEL, cols * sizeof(float));
            }
        }
        for (; m0 < N; m0++) {
            sn_seq_tile1(h + m0 * K, K, b, ldb, buffer, SN_SEQ_PANEL, K);
            memcpy(hw + m0 * G + j0, buffer, cols * sizeof(float));
        }
    }
    /* A barrier that spins briefly, then sleeps. Spinning keeps the team awake between steps (the PASSIVE
       OpenMP policy would put it to sleep at every barrier, and waking it each step cost what the product
       saves). But a spinning thread holds its core: with more threads than free cores (OMP_NUM_THREADS
       above the CPU count, or another busy process) the thread everyone waits for may be the one kept off
       the core, and a pure spin took 16x longer. So after SN_SPINS pauses (tens of microseconds) a waiter sleeps
       on a futex, and the last thread in wakes the sleepers. Dekker-style ordering (both sides sequentially
       consistent): either the releaser sees a sleeper and wakes it, or the sleeper's futex check sees the
       new phase and does not sleep. */
    #include <limits.h>
    #ifdef __linux__
    #include <linux/futex.h>
    #include <sys/syscall.h>
    #include <unistd.h>
    #else
    #include <sched.h>
    #endif
    #define SN_SPINS 2000
    typedef struct { int count; int phase; int sleepers; Py_ssize_t next; } sn_spin_barrier;
    /* the next item of the current phase (panels or rows) for the calling thread: handed out in order as
       threads ask, so a thread slowed by another process does less of the work instead of holding up the
       barrier; each item is still computed whole by one thread, so results do not depend on who takes it */
    static inline Py_ssize_t sn_claim(sn_spin_barrier* bar) { return __atomic_fetch_add(&bar->next, 1, __ATOMIC_RELAXED); }
    static inline void sn_spin_wait(sn_spin_barrier* bar, int* phase, int team) {
        const int mine = *phase;
        if (__atomic_add_fetch(&bar->count, 1, __ATOMIC_ACQ_REL) == team) {
            __atomic_store_n(&bar->count, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&bar->next, 0, __ATOMIC_RELAXED);  /* every thread is here: no claim in flight */
            __atomic_store_n(&bar->phase, mine + 1, __ATOMIC_SEQ_CST);
    #ifdef __linux__
            if (__atomic_load_n(&bar->sleepers, __ATOMIC_SEQ_CST) > 0)
                syscall(SYS_futex, &bar->phase, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    #endif
        } else {
            for (int spins = 0; __atomic_load_n(&bar->phase, __ATOMIC_ACQUIRE) == mine; spins++) {
                if (spins < SN_SPINS) {
    #if defined(__x86_64__) || defined(__i386__)
                    __builtin_ia32_pause();
    #endif
                    continue;
                }
    #ifdef __linux__
                __atomic_add_fetch(&bar->sleepers, 1, __ATOMIC_SEQ_CST);
                syscall(SYS_futex, &bar->phase, FUTEX_WAIT_PRIVATE, mine, NULL, NULL, 0);
                __atomic_sub_fetch(&bar->sleepers, 1, __ATOMIC_SEQ_CST);
    #else
                sched_yield();
    #endif
            }
        }
        *phase = mine + 1;
    }
    /* one team member's share of the forward loop: per step, its panels of h_{s} W_h, a barrier, its rows
       of the cell update, a barrier */
    static void sn_lstm_forward_sequence(int team, sn_spin_barrier* bar, float* a, const float* wh,
                                         const float* tail, float* hs, float* cs, float* tc, float* hw,
                                         Py_ssize_t T, Py_ssize_t N, Py_ssize_t H) {
        const Py_ssize_t G = 4 * H, panels = (G + SN_SEQ_PANEL - 1) / SN_SEQ_PANEL;
        int phase = 0;
        for (Py_ssize_t s = 0; s < T; s++) {
            const float* h = hs + s * N * H;
            for (Py_ssize_t p = sn_claim(bar); p < panels; p = sn_claim(bar)) sn_seq_panel(h, wh, tail, hw, p, N, H, G);
            sn_spin_wait(bar, &phase, team);
            for (Py_ssize_t r = sn_claim(bar); r < N; r = sn_claim(bar))
                sn_lstm_forward_row(a + (s * N + r) * G, hw + r * G, cs + (s * N + r) * H, h + r * H,
                                    cs + ((s + 1) * N + r) * H, tc + (s * N + r) * H, hs + ((s + 1) * N + r) * H,
                                    H, 0, 1.0f);
            sn_spin_wait(bar, &phase, team);
        }
    }
    /* one team member's share of the backward loop, steps T-1 .. 0: its rows of dh += dhs[s] (if given) and
       of the cell's backward (da[s], dc), a barrier, its panels of dh = da[s] W_h^T, a barrier */
    static void sn_lstm_backward_sequence(int team, sn_spin_barrier* bar, const float* act,
                                          const float* tc, const float* cs, const float* dhs, float* dh,
                                          float* dc, float* da, const float* wh_t, const float* tail,
                                          Py_ssize_t T, Py_ssize_t N, Py_ssize_t H) {
        const Py_ssize_t G = 4 * H, panels = (H + SN_SEQ_PANEL - 1) / SN_SEQ_PANEL;
        int phase = 0;
        for (Py_ssize_t s = T - 1; s >= 0; s--) {
            for (Py_ssize_t r = sn_claim(bar); r < N; r = sn_claim(bar)) {
                if (dhs != NULL) {
                    float* restrict d = dh + r * H;
                    const float* restrict add = dhs + (s * N + r) * H;
                    for (Py_ssize_t j = 0; j < H; j++) d[j] += add[j];
                }
                sn_lstm_backward_row_f(act + (s * N + r) * G, tc + (s * N + r) * H, cs + (s * N + r) * H,
                                       dh + r * H, dc + r * H, da + (s * N + r) * G, H, 0, 1.0f);
            }
            sn_spin_wait(bar, &phase, team);
            for (Py_ssize_t p = sn_claim(bar); p < panels; p = sn_claim(bar)) sn_seq_panel(da + s * N * G, wh_t, tail, dh, p, N, G, H);
            sn_spin_wait(bar, &phase, team);
        }
    }
    """
    void sn_tanh_f(const float* x, float* y, Py_ssize_t n) noexcept nogil
    void sn_lstm_forward_row(float* g4, const float* hw, const float* c_prev, const float* h_prev, float* c_new,
                             float* tc, float* h_new, Py_ssize_t H, int masked, float m) noexcept nogil
    void sn_lstm_backward_row_f(const float* g4, const float* tc, const float* c_prev, float* dh, float* dc,
                                float* d, Py_ssize_t H, int masked, float m) noexcept nogil
    void sn_lstm_backward_row_d(const double* g4, const double* tc, const double* c_prev, double* dh,
                                double* dc, double* d, Py_ssize_t H, int masked, double m) noexcept nogil
    enum:
        SN_SEQ_PANEL
    ctypedef struct sn_spin_barrier:
        int count
        int phase
        int sleepers
        Py_ssize_t next
    void sn_lstm_forward_sequence(int team, sn_spin_barrier* bar, float* a, const float* wh,
                                  const float* tail, float* hs, float* cs, float* tc, float* hw, Py_ssize_t T,
                                  Py_ssize_t N, Py_ssize_t H) noexcept nogil
    void sn_lstm_backward_sequence(int team, sn_spin_barrier* bar, const float* act, const float* tc,
                                   const float* cs, const float* dhs, float* dh, float* dc, float* da,
                                   const float* wh_t, const float* tail, Py_ssize_t T, Py_ssize_t N,
                                   Py_ssize_t H) noexcept nogil


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


def _last_panel(b):
    """The columns of ``b`` (K, N) past its last whole panel, zero-padded to a panel: (K, SN_SEQ_PANEL)."""
    rest = b.shape[1] % SN_SEQ_PANEL
    tail = np.zeros((b.shape[0], SN_SEQ_PANEL), dtype=b.dtype)
    if rest:
        tail[:, :rest] = b[:, b.shape[1] - rest :]
    return tail


def forward_sequence(a, wh, hs, cs, tc):
    """The twin's ``forward_sequence`` (no mask, float32): the whole time loop in one parallel region."""
    arrays = (a, wh, hs, cs, tc)
    if not kernel_takes(arrays, (np.float32,)) or a.ndim != 3 or hs.ndim != 3:
        return twin.forward_sequence(a, wh, hs, cs, tc)
    t, n, g = a.shape
    H = hs.shape[2]
    if (g != 4 * H or wh.shape != (H, g) or hs.shape != (t + 1, n, H) or cs.shape != hs.shape
            or tc.shape != (t, n, H) or t == 0 or n == 0 or H == 0):
        return twin.forward_sequence(a, wh, hs, cs, tc)
    hw = np.empty((n, g), dtype=np.float32)
    _forward_sequence(a, wh, _last_panel(wh), hs, cs, tc, hw, sn_lockstep_threads_for(n * g * H))


def _forward_sequence(float[:, :, ::1] a, const float[:, ::1] wh, const float[:, ::1] tail, float[:, :, ::1] hs,
                      float[:, :, ::1] cs, float[:, :, ::1] tc, float[:, ::1] hw, int threads):
    cdef sn_spin_barrier bar
    cdef int team
    bar.count = 0
    bar.phase = 0
    bar.sleepers = 0
    bar.next = 0
    with nogil, parallel(num_threads=threads):
        team = sn_team_size()
        sn_lstm_forward_sequence(team, &bar, &a[0, 0, 0], &wh[0, 0], &tail[0, 0], &hs[0, 0, 0], &cs[0, 0, 0],
                                 &tc[0, 0, 0], &hw[0, 0], a.shape[0], a.shape[1], hs.shape[2])


def backward_sequence(act, tc, cs, dhs, dh, dc, da, wh_t):
    """The twin's ``backward_sequence`` (no mask, float32): the whole time loop in one parallel region."""
    arrays = (act, tc, cs, dh, dc, da, wh_t) + (() if dhs is None else (dhs,))
    if not kernel_takes(arrays, (np.float32,)) or act.ndim != 3 or dh.ndim != 2:
        return twin.backward_sequence(act, tc, cs, dhs, dh, dc, da, wh_t)
    t, n, g = act.shape
    H = dh.shape[1]
    if (g != 4 * H or wh_t.shape != (g, H) or tc.shape != (t, n, H) or cs.shape[0] < t or cs.shape[1:] != (n, H)
            or dh.shape != (n, H) or dc.shape != (n, H) or da.shape != act.shape
            or (dhs is not None and dhs.shape != (t, n, H)) or t == 0 or n == 0 or H == 0):
        return twin.backward_sequence(act, tc, cs, dhs, dh, dc, da, wh_t)
    _backward_sequence(act, tc, cs, dhs, dh, dc, da, wh_t, _last_panel(wh_t), sn_lockstep_threads_for(n * g * H))


def _backward_sequence(const float[:, :, ::1] act, const float[:, :, ::1] tc, const float[:, :, ::1] cs, dhs,
                       float[:, ::1] dh, float[:, ::1] dc, float[:, :, ::1] da, const float[:, ::1] wh_t,
                       const float[:, ::1] tail, int threads):
    cdef sn_spin_barrier bar
    cdef int team
    cdef const float[:, :, ::1] dhs_view
    cdef const float* dhs_ptr = NULL
    if dhs is not None:
        dhs_view = dhs
        dhs_ptr = &dhs_view[0, 0, 0]
    bar.count = 0
    bar.phase = 0
    bar.sleepers = 0
    bar.next = 0
    with nogil, parallel(num_threads=threads):
        team = sn_team_size()
        sn_lstm_backward_sequence(team, &bar, &act[0, 0, 0], &tc[0, 0, 0], &cs[0, 0, 0], dhs_ptr, &dh[0, 0],
                                  &dc[0, 0], &da[0, 0, 0], &wh_t[0, 0], &tail[0, 0], act.shape[0], act.shape[1],
                                  dh.shape[1])
