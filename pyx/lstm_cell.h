/* lstm_cell.h: the C of one LSTM step's element-wise work and of the whole-sequence loops
 * (pyx/lstm_cell.pyx).
 *
 * What it computes: sn_tanh_f / sn_tanhf (float32 tanh the compiler vectorises, within 1e-7 of exact),
 * sn_lstm_forward_row (gates i, f, g, o, the new cell c and hidden h of one row), sn_lstm_backward_row_*
 * (the gates' gradients and dc of one row, the twin's operations in the twin's order: bit-identical),
 * and sn_lstm_forward_sequence / sn_lstm_backward_sequence: one team member's share of the whole time
 * loop, the product h W_h (or dA W_h^T) by register-tile panels (sn_seq_*), a spin-then-sleep barrier
 * (sn_spin_wait), then the rows.
 * NumPy twin: scratchnet/fast/lstm_cell.py (forward_step, backward_step, forward_sequence,
 * backward_sequence).
 * Data layout: C-contiguous rows. Gates g4 / act (N, 4H) as [i | f | g | o] blocks of H columns; c, h,
 * tanh(c) and their gradients (N, H); sequences stack T steps: hs and cs (T + 1, N, H), act and da
 * (T, N, 4H), tc (T, N, H); W_h (H, 4H) (W_h^T (4H, H) for backward), its last partial panel of
 * SN_SEQ_PANEL columns zero-padded in tail (K, SN_SEQ_PANEL). Needs kernel_helpers.h (sn_pick_f, SN_FUSED). */
#ifndef SN_LSTM_CELL_H
#define SN_LSTM_CELL_H

#include <stdint.h>
#include <string.h>
#include <math.h>
/* selects are sn_pick_f (kernel_helpers.h): GCC turns a plain ?: here into a branch (it will not
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

#endif  /* SN_LSTM_CELL_H */
