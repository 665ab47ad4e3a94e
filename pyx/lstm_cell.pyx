# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One LSTM step's element-wise work in one pass per row (see ``scratchnet/fast/lstm_cell.py`` for the
equations and the twin).

The twin makes about a dozen NumPy passes over the step's (N, 4H) and (N, H) arrays, each a separate call;
at the course's sizes those passes were about a third of an LSTM layer's time. Here each row is one loop.

* ``backward_step`` does the twin's operations in the twin's order (float32 and float64): bit-identical.
* ``forward_step`` (float32) needs tanh, which the C library computes one scalar at a time; ``sn_tanhf``
  (lstm_cell.h) is written so the compiler vectorises it: an odd polynomial near zero, ``1 - 2/(e^{2|x|} + 1)``
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
  whole-sequence products run on the same threads (``fast/recurrent.py``): OpenBLAS's pool, spinning after
  its own products, took half the cores from the spinning team.

Arrays the kernels do not take (not C-contiguous, mixed dtypes) go to the twin. The single steps are
single-threaded: one step is too small to share out.
"""

import numpy as np

from cython cimport floating

from cython.parallel cimport parallel

from kernel_helpers cimport sn_pick_f, sn_share_thread_setting, sn_team_size, sn_lockstep_threads_for  # sn_pick_f: used by lstm_cell.h

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.fast import lstm_cell as twin
from scratchnet.arguments import kernel_takes

__all__ = ["forward_step", "backward_step", "forward_sequence", "backward_sequence", "tanh"]

cdef extern from "lstm_cell.h":
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
