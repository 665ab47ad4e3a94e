# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled Winograd transforms (see ``scratchnet/fast/winograd.py`` for the maths and the readable twins).

The twins cut the image into tiles, transform all tiles with one Kronecker-matrix product, and lay the
result out again: three passes over memory. Here each transform works on blocks of 64 tiles copied to the
stack, applies the small matrices separably (``B^T d B`` as two alpha x alpha products, skipping the zero
entries) with the innermost loop running over the tiles of the block, where the compiler can use SIMD,
and reads and writes the image directly. The output adjoint, whose tiles do not overlap, instead splits
whole images by pixel phase and applies the matrices to whole phase planes (``_output_adjoint_planes``).
Same functions, arguments and results as the twins, to float rounding (the sums run in another order:
about 1e-7 of the largest value in float32, tested). The wrappers validate
with the twins' helpers (``scratchnet/arguments.py``) before any ``nogil`` code, so every index below
stays inside its array.

Each loop runs in parallel over (image, channel) planes and each plane's outputs are written by one
thread in a fixed order, so the results do not depend on the thread count.
"""

import threading

import numpy as np

from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY
from libc.string cimport memset
from cython cimport floating

from kernel_helpers cimport sn_pick_d, sn_pick_f, sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.arguments import (
    prepare_input_transform,
    prepare_input_transform_adjoint,
    prepare_output_transform,
    prepare_output_transform_adjoint,
)
from scratchnet.fast.winograd import contrast_geometry, prepare_tile_contrast, transforms

__all__ = [
    "input_transform",
    "output_transform",
    "output_transform_adjoint",
    "input_transform_adjoint",
    "tile_contrast",
]

cdef enum:
    TILE = 64  # MAX_WINOGRAD_TILE ** 2
    BLOCK = 64  # tiles transformed together: the innermost loops run over them (SIMD-friendly)
    PLANES_TOGETHER = 512  # values per phase plane that the output adjoint transforms at once


cdef inline void _tile_origin(Py_ssize_t p, Py_ssize_t th, Py_ssize_t tw, Py_ssize_t m, Py_ssize_t* n,
                              Py_ssize_t* h0, Py_ssize_t* w0) noexcept nogil:
    """Tile p = (n*th + ty)*tw + tx starts at pixel (ty*m, tx*m) of image n."""
    n[0] = p // (th * tw)
    h0[0] = ((p // tw) % th) * m
    w0[0] = (p % tw) * m


cdef extern from "winograd.h":
    void sn_wino_left_f(const float* mat, const float* src, float* dst, Py_ssize_t p, Py_ssize_t q,
                        Py_ssize_t cols) noexcept nogil
    void sn_wino_left_d(const double* mat, const double* src, double* dst, Py_ssize_t p, Py_ssize_t q,
                        Py_ssize_t cols) noexcept nogil
    void sn_wino_taps_f(const float* mat, Py_ssize_t p, Py_ssize_t q, const float* src, const Py_ssize_t* offset,
                        float* dst, Py_ssize_t dst_stride, Py_ssize_t len) noexcept nogil
    void sn_wino_taps_d(const double* mat, Py_ssize_t p, Py_ssize_t q, const double* src, const Py_ssize_t* offset,
                        double* dst, Py_ssize_t dst_stride, Py_ssize_t len) noexcept nogil
    void sn_wino_gather_f(const float* src, const Py_ssize_t* plane, const Py_ssize_t* h0, const Py_ssize_t* w0,
                          float* d, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t H, Py_ssize_t W) noexcept nogil
    void sn_wino_gather_d(const double* src, const Py_ssize_t* plane, const Py_ssize_t* h0, const Py_ssize_t* w0,
                          double* d, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t H, Py_ssize_t W) noexcept nogil


cdef inline void _gather(const floating* src, Py_ssize_t first, Py_ssize_t nb, Py_ssize_t th, Py_ssize_t tw,
                         Py_ssize_t m, Py_ssize_t planes, Py_ssize_t c, Py_ssize_t dh, Py_ssize_t dw,
                         floating* d, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t H,
                         Py_ssize_t W) noexcept nogil:
    """d[(i*cols + j)*BLOCK + t] = src[n, c, h0 + dh + i, w0 + dw + j] (0 outside the H x W plane) for the
    tiles t < nb of the block starting at tile ``first`` ((n, h0, w0) by ``_tile_origin``; src has ``planes``
    channels); lanes t >= nb repeat the block's first tile."""
    cdef Py_ssize_t plane[BLOCK]
    cdef Py_ssize_t h0[BLOCK]
    cdef Py_ssize_t w0[BLOCK]
    cdef Py_ssize_t t, n, a, b
    for t in range(BLOCK):
        _tile_origin(first + (t if t < nb else 0), th, tw, m, &n, &a, &b)
        plane[t] = (n * planes + c) * H * W
        h0[t] = a + dh
        w0[t] = b + dw
    if floating is float:
        sn_wino_gather_f(src, plane, h0, w0, d, rows, cols, H, W)
    else:
        sn_wino_gather_d(src, plane, h0, w0, d, rows, cols, H, W)


cdef inline void _left(const floating* mat, const floating* src, floating* dst, Py_ssize_t p,
                       Py_ssize_t q, Py_ssize_t cols, Py_ssize_t nb) noexcept nogil:
    """dst[a, k, :] = sum_i mat[a, i] src[i, k, :] for a < p, k < cols; mat is p x q."""
    if floating is float:
        sn_wino_left_f(mat, src, dst, p, q, cols)
    else:
        sn_wino_left_d(mat, src, dst, p, q, cols)


cdef inline void _right(const floating* src, const floating* mat, floating* dst, Py_ssize_t rows,
                        Py_ssize_t p, Py_ssize_t q, Py_ssize_t nb) noexcept nogil:
    """dst[k, b, :] = sum_j src[k, j, :] mat[b, j] for k < rows, b < p; mat is p x q: for every k, ``_left``
    on the (q, tiles) slice."""
    cdef Py_ssize_t k
    for k in range(rows):
        _left(mat, src + k * q * BLOCK, dst + k * p * BLOCK, p, q, 1, nb)


cdef inline void _taps(const floating* mat, Py_ssize_t p, Py_ssize_t q, const floating* src,
                       const Py_ssize_t* offset, floating* dst, Py_ssize_t dst_stride,
                       Py_ssize_t length) noexcept nogil:
    if floating is float:
        sn_wino_taps_f(mat, p, q, src, offset, dst, dst_stride, length)
    else:
        sn_wino_taps_d(mat, p, q, src, offset, dst, dst_stride, length)


cdef inline void _split_planes(const floating* x, floating* S, Py_ssize_t ls, Py_ssize_t planes,
                               Py_ssize_t plane_step, Py_ssize_t H, Py_ssize_t W, Py_ssize_t m,
                               Py_ssize_t th, Py_ssize_t tw) noexcept nogil:
    """The phase planes of ``planes`` images (each H x W, ``plane_step`` apart in x) cut into th x tw tiles
    of m x m: S[(b*m + a) * ls + g*th*tw + ty*tw + tx] = x_g[ty*m + a, tx*m + b] (0 past the edge)."""
    cdef Py_ssize_t g, ty, a, b, tx, h, full = W // m, step = m * ls
    cdef floating* d
    cdef const floating* row
    for g in range(planes):
        for ty in range(th):
            for a in range(m):
                h = ty * m + a
                d = S + a * ls + (g * th + ty) * tw
                if h < H:
                    row = x + g * plane_step + h * W
                    for tx in range(min(full, tw)):  # tiles whole in the row
                        for b in range(m):
                            d[b * step + tx] = row[tx * m + b]
                    for tx in range(min(full, tw), tw):
                        for b in range(m):
                            d[b * step + tx] = row[tx * m + b] if tx * m + b < W else 0
                else:
                    for b in range(m):
                        for tx in range(tw):
                            d[b * step + tx] = 0


cdef inline Py_ssize_t _group(Py_ssize_t N, Py_ssize_t plane) noexcept nogil:
    """Images whose phase planes are transformed together: about PLANES_TOGETHER values per phase plane
    (the scratch stays in L2), at least one."""
    return max(1, min(N, PLANES_TOGETHER // plane))


cdef inline Py_ssize_t _phase_stride(Py_ssize_t group, Py_ssize_t plane) noexcept nogil:
    """Elements between phase planes in the scratch (a group's planes, rounded up to 64 bytes)."""
    return (group * plane + 15) // 16 * 16


cdef inline void _input_channel(const floating* x, const floating* bt, floating* v, Py_ssize_t C,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t pt,
                                Py_ssize_t pl, Py_ssize_t th, Py_ssize_t tw, Py_ssize_t P,
                                Py_ssize_t c) noexcept nogil:
    cdef floating d[TILE * BLOCK]
    cdef floating t1[TILE * BLOCK]
    cdef floating t2[TILE * BLOCK]
    cdef Py_ssize_t p0, nb, t, k
    # V[xi nu, c, p] = (B^T d B)[xi, nu], d[i, j] = x_pad[n, c, ty*m + i, tx*m + j] for tile p = (n, ty, tx)
    p0 = 0
    while p0 < P:
        nb = min(BLOCK, P - p0)
        _gather(x, p0, nb, th, tw, m, C, c, -pt, -pl, d, alpha, alpha, H, W)
        _left(bt, d, t1, alpha, alpha, alpha, nb)
        _right(t1, bt, t2, alpha, alpha, alpha, nb)
        for k in range(alpha * alpha):
            for t in range(nb):
                v[(k * C + c) * P + p0 + t] = t2[k * BLOCK + t]
        p0 += BLOCK


cdef void _input_tf(const floating* x, const floating* bt, floating* v, Py_ssize_t N, Py_ssize_t C,
                    Py_ssize_t H, Py_ssize_t W, Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t pt,
                    Py_ssize_t pl, Py_ssize_t th, Py_ssize_t tw) noexcept nogil:
    cdef Py_ssize_t c, P = N * th * tw
    for c in prange(C, schedule="static", num_threads=sn_threads_for(alpha * alpha * C * P)):
        _input_channel(x, bt, v, C, H, W, m, alpha, pt, pl, th, tw, P, c)


cdef inline floating _rectified(floating v) noexcept nogil:
    """max(0, v) as np.maximum(v, 0) (v when v > 0 or NaN, else +0), as a select: a branch on the sign of
    real outputs is a coin flip"""
    if floating is float:
        return sn_pick_f((v > 0) | (v != v), v, 0)
    else:
        return sn_pick_d((v > 0) | (v != v), v, 0)


cdef inline void _output_filter(const floating* mm, const floating* at, floating bias, floating* y,
                                Py_ssize_t F, Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t th,
                                Py_ssize_t tw, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t P,
                                Py_ssize_t f, bint relu) noexcept nogil:
    cdef floating t0[TILE * BLOCK]
    cdef floating t1[TILE * BLOCK]
    cdef floating t2[TILE * BLOCK]
    cdef Py_ssize_t p0, nb, t, a, b, n, h0, w0, h, w, k
    memset(&t0[0], 0, TILE * BLOCK * sizeof(floating))  # the lanes past a block's last tile
    # y[n, f, ty*m + a, tx*m + b] = (A^T M A)[a, b] + bias[f], M[xi, nu] = mm[xi nu, f, p]; then max(0, y)
    # when relu, as np.maximum(y, 0): y where y > 0 or y is NaN, else +0
    p0 = 0
    while p0 < P:
        nb = min(BLOCK, P - p0)
        for k in range(alpha * alpha):
            for t in range(nb):
                t0[k * BLOCK + t] = mm[(k * F + f) * P + p0 + t]
        _left(at, t0, t1, m, alpha, alpha, nb)
        _right(t1, at, t2, m, m, alpha, nb)
        if relu:  # on the whole block, one vectorised pass, before the scatter below
            for k in range(m * m * BLOCK):
                t2[k] = _rectified(t2[k] + bias)
        for t in range(nb):
            _tile_origin(p0 + t, th, tw, m, &n, &h0, &w0)
            for a in range(m):
                h = h0 + a
                if h >= OH:
                    break
                for b in range(m):
                    w = w0 + b
                    if w >= OW:
                        break
                    y[((n * F + f) * OH + h) * OW + w] = t2[(a * m + b) * BLOCK + t] if relu else t2[(a * m + b) * BLOCK + t] + bias
        p0 += BLOCK


cdef void _output_tf(const floating* mm, const floating* at, const floating* bias, floating* y,
                     Py_ssize_t N, Py_ssize_t F, Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t th,
                     Py_ssize_t tw, Py_ssize_t OH, Py_ssize_t OW, bint relu) noexcept nogil:
    cdef Py_ssize_t f, P = N * th * tw
    for f in prange(F, schedule="static", num_threads=sn_threads_for(alpha * alpha * F * P)):
        _output_filter(mm, at, bias[f] if bias != NULL else 0, y, F, m, alpha, th, tw, OH, OW, P, f, relu)


cdef inline void _output_adjoint_planes(const floating* dout, const floating* a_mat, floating* dmm,
                                        floating* scratch, Py_ssize_t N, Py_ssize_t F, Py_ssize_t m,
                                        Py_ssize_t alpha, Py_ssize_t th, Py_ssize_t tw, Py_ssize_t OH,
                                        Py_ssize_t OW, Py_ssize_t group, Py_ssize_t ls,
                                        Py_ssize_t f) noexcept nogil:
    """dM[xi nu, f, p] = (A dY A^T)[xi, nu] for every tile of filter f, ``group`` images at a time.

    The output tiles do not overlap, so dout is split by pixel phase instead of being cut into tiles:
    pixel (ty*m + a, tx*m + b) goes to phase plane (b, a) at tile p = (n, ty, tx), and each phase plane is
    a row of values in tile order. Both products with A are then sums of whole phase planes (``_taps``),
    contiguous loads with no index computed per tile, and the last one writes dmm's rows directly. (A
    gather of 64 tiles at a time, as the other transforms do, took a third of this kernel in clamped
    vector gathers; this is 25-45% faster on the course's layers.)"""
    cdef Py_ssize_t lr = th * tw, P = N * lr
    cdef floating* S = scratch  # (m*m, ls): dY[b, a] of every tile
    cdef floating* T = S + m * m * ls  # (alpha*m, ls): dY A^T, by (nu, a)
    cdef Py_ssize_t offset[TILE]
    cdef Py_ssize_t n0, planes, length, a, b, nu
    n0 = 0
    while n0 < N:
        planes = min(group, N - n0)
        length = planes * lr
        _split_planes(dout + (n0 * F + f) * OH * OW, S, ls, planes, F * OH * OW, OH, OW, m, th, tw)
        for a in range(m):  # T[nu, a] = sum_b A[nu, b] S[b, a]
            for b in range(m):
                offset[b] = (b * m + a) * ls
            _taps(a_mat, alpha, m, S, offset, T + a * ls, m * ls, length)
        for nu in range(alpha):  # dM[xi, nu] = sum_a A[xi, a] T[nu, a]
            for a in range(m):
                offset[a] = (nu * m + a) * ls
            _taps(a_mat, alpha, m, T, offset, dmm + (nu * F + f) * P + n0 * lr, alpha * F * P, length)
        n0 += planes


cdef void _output_adj(const floating* dout, const floating* at, floating* dmm, floating* scratch,
                      Py_ssize_t N, Py_ssize_t F, Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t th,
                      Py_ssize_t tw, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t group,
                      Py_ssize_t ls, int threads) noexcept nogil:
    cdef Py_ssize_t f, k, a
    cdef floating a_mat[TILE]
    for a in range(m):  # A = (A^T)^T, alpha x m
        for k in range(alpha):
            a_mat[k * m + a] = at[a * alpha + k]
    for f in prange(F, schedule="static", num_threads=threads):  # threads: what sized the scratch
        _output_adjoint_planes(dout, a_mat, dmm, scratch + threadid() * (m * m + alpha * m) * ls, N, F, m,
                               alpha, th, tw, OH, OW, group, ls, f)


cdef inline void _input_adjoint_channel(const floating* dv, const floating* bt, floating* dx,
                                        Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                                        Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t pt, Py_ssize_t pl,
                                        Py_ssize_t th, Py_ssize_t tw, Py_ssize_t P,
                                        Py_ssize_t c) noexcept nogil:
    cdef floating t0[TILE * BLOCK]
    cdef floating t1[TILE * BLOCK]
    cdef floating t2[TILE * BLOCK]
    cdef floating b_mat[TILE]
    cdef Py_ssize_t p0, nb, t, i, j, n, h0, w0, h, w, k
    memset(&t0[0], 0, TILE * BLOCK * sizeof(floating))  # the lanes past a block's last tile
    for i in range(alpha):  # B = (B^T)^T
        for k in range(alpha):
            b_mat[k * alpha + i] = bt[i * alpha + k]
    for n in range(N):
        memset(dx + (n * C + c) * H * W, 0, H * W * sizeof(floating))
    # dx[n, c, ty*m + i - pt, tx*m + j - pl] += (B dV B^T)[i, j], tiles in order
    p0 = 0
    while p0 < P:
        nb = min(BLOCK, P - p0)
        for k in range(alpha * alpha):
            for t in range(nb):
                t0[k * BLOCK + t] = dv[(k * C + c) * P + p0 + t]
        _left(b_mat, t0, t1, alpha, alpha, alpha, nb)
        _right(t1, b_mat, t2, alpha, alpha, alpha, nb)
        for t in range(nb):
            _tile_origin(p0 + t, th, tw, m, &n, &h0, &w0)
            for i in range(alpha):
                h = h0 + i - pt
                if h < 0 or h >= H:
                    continue
                for j in range(alpha):
                    w = w0 + j - pl
                    if 0 <= w < W:
                        dx[((n * C + c) * H + h) * W + w] += t2[(i * alpha + j) * BLOCK + t]
        p0 += BLOCK


cdef void _input_adj(const floating* dv, const floating* bt, floating* dx, Py_ssize_t N, Py_ssize_t C,
                     Py_ssize_t H, Py_ssize_t W, Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t pt,
                     Py_ssize_t pl, Py_ssize_t th, Py_ssize_t tw) noexcept nogil:
    cdef Py_ssize_t c, P = N * th * tw
    for c in prange(C, schedule="static", num_threads=sn_threads_for(alpha * alpha * C * P)):
        _input_adjoint_channel(dv, bt, dx, N, C, H, W, m, alpha, pt, pl, th, tw, P, c)


_per_thread = threading.local()


def _scratch(size, dtype):
    """A scratch array of at least ``size`` elements of ``dtype``, kept from call to call (per Python thread,
    so that concurrent calls do not share it): a fresh one costs page faults on every call. The kernels
    write every scratch value before they read it."""
    cache = _per_thread.__dict__.setdefault("scratch", {})
    buf = cache.get(np.dtype(dtype))
    if buf is None or buf.size < size:
        buf = cache[np.dtype(dtype)] = np.zeros(size, dtype=dtype)
    return buf[:size]


def _matrices(m, r, dtype):
    """(AT, BT) of F(m, r) as C-contiguous arrays of ``dtype``."""
    at, _, bt = transforms(m, r)
    return np.ascontiguousarray(at, dtype=dtype), np.ascontiguousarray(bt, dtype=dtype)


def _input_into(const floating[:, :, :, ::1] x, const floating[:, ::1] bt, floating[:, :, ::1] v,
                Py_ssize_t m, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t th, Py_ssize_t tw):
    with nogil:
        _input_tf(&x[0, 0, 0, 0], &bt[0, 0], &v[0, 0, 0], x.shape[0], x.shape[1], x.shape[2], x.shape[3], m,
                  bt.shape[0], pt, pl, th, tw)


def _output_into(const floating[:, :, ::1] mm, const floating[:, ::1] at, const floating[::1] bias,
                 floating[:, :, :, ::1] y, Py_ssize_t th, Py_ssize_t tw, bint relu):
    cdef const floating* b = NULL
    if bias is not None:
        b = &bias[0]
    with nogil:
        _output_tf(&mm[0, 0, 0], &at[0, 0], b, &y[0, 0, 0, 0], y.shape[0], y.shape[1], at.shape[0],
                   at.shape[1], th, tw, y.shape[2], y.shape[3], relu)


def _output_adjoint_into(const floating[:, :, :, ::1] dout, const floating[:, ::1] at,
                         floating[:, :, ::1] dmm, Py_ssize_t th, Py_ssize_t tw):
    cdef Py_ssize_t m = at.shape[0], alpha = at.shape[1], group = _group(dout.shape[0], th * tw)
    cdef Py_ssize_t ls = _phase_stride(group, th * tw)
    # one read of the thread count sizes the per-thread scratch and the team (set_num_threads may run between)
    cdef int threads = sn_threads_for(alpha * alpha * dout.shape[1] * dout.shape[0] * th * tw)
    cdef floating[::1] scratch = _scratch(threads * (m * m + alpha * m) * ls, np.asarray(dout).dtype)
    with nogil:
        _output_adj(&dout[0, 0, 0, 0], &at[0, 0], &dmm[0, 0, 0], &scratch[0], dout.shape[0], dout.shape[1],
                    m, alpha, th, tw, dout.shape[2], dout.shape[3], group, ls, threads)


def _input_adjoint_into(const floating[:, :, ::1] dv, const floating[:, ::1] bt, floating[:, :, :, ::1] dx,
                        Py_ssize_t m, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t th, Py_ssize_t tw):
    with nogil:
        _input_adj(&dv[0, 0, 0], &bt[0, 0], &dx[0, 0, 0, 0], dx.shape[0], dx.shape[1], dx.shape[2],
                   dx.shape[3], m, bt.shape[0], pt, pl, th, tw)


def input_transform(x, m, r, pad_top, pad_left, th, tw, out=None):
    """``B^T d B`` for every input tile, as (alpha^2, C, N*th*tw)."""
    x, m, r, alpha, pt, pl, th, tw = prepare_input_transform(x, m, r, pad_top, pad_left, th, tw, out)
    if out is None:
        out = np.empty((alpha * alpha, x.shape[1], x.shape[0] * th * tw), dtype=x.dtype)
    _input_into(x, _matrices(m, r, x.dtype)[1], out, m, pt, pl, th, tw)
    return out


def output_transform(mm, m, r, n, th, tw, oh, ow, bias=None, relu=False):
    """``A^T M A`` for every tile of ``mm`` (alpha^2, F, N*th*tw), as the image (N, F, oh, ow) plus bias;
    max(0, y) when relu."""
    mm, m, r, alpha, n, th, tw, oh, ow, bias = prepare_output_transform(mm, m, r, n, th, tw, oh, ow, bias)
    y = np.empty((n, mm.shape[1], oh, ow), dtype=mm.dtype)
    _output_into(mm, _matrices(m, r, mm.dtype)[0], bias, y, th, tw, bool(relu))
    return y


def output_transform_adjoint(dout, m, r, th, tw, out=None):
    """``A dY A^T`` for every output tile of ``dout``, as (alpha^2, F, N*th*tw)."""
    dout, m, r, alpha, th, tw = prepare_output_transform_adjoint(dout, m, r, th, tw, out)
    if out is None:
        out = np.empty((alpha * alpha, dout.shape[1], dout.shape[0] * th * tw), dtype=dout.dtype)
    _output_adjoint_into(dout, _matrices(m, r, dout.dtype)[0], out, th, tw)
    return out


def input_transform_adjoint(dv, x_shape, m, r, pad_top, pad_left, th, tw):
    """``B dV B^T`` for every tile, added back onto the image; returns dx of ``x_shape``."""
    dv, x_shape, m, r, alpha, pt, pl, th, tw = prepare_input_transform_adjoint(
        dv, x_shape, m, r, pad_top, pad_left, th, tw
    )
    dx = np.empty(x_shape, dtype=dv.dtype)
    _input_adjoint_into(dv, _matrices(m, r, dv.dtype)[1], dx, m, pt, pl, th, tw)
    return dx


# -- the accuracy guard's statistic (the twin, ``tile_contrast`` in scratchnet/fast/winograd.py, defines it) --
cdef extern from "winograd_contrast.h":
    void sn_wino_abs_planes_f(const float* z, Py_ssize_t C, Py_ssize_t HW, float* s, float* mx) noexcept nogil
    void sn_wino_abs_planes_d(const double* z, Py_ssize_t C, Py_ssize_t HW, double* s, double* mx) noexcept nogil
    int sn_wino_plane_flags_f(const float* s, const float* mx, Py_ssize_t HW, double* top) noexcept nogil
    int sn_wino_plane_flags_d(const double* s, const double* mx, Py_ssize_t HW, double* top) noexcept nogil
    void sn_wino_contrast_grid(const double* S, const double* X, double* line, double* box, Py_ssize_t gh,
                               Py_ssize_t gw, Py_ssize_t nc, Py_ssize_t r, Py_ssize_t m, Py_ssize_t nty,
                               Py_ssize_t ntx, double weight, Py_ssize_t max_off, Py_ssize_t max_len,
                               Py_ssize_t org_len, Py_ssize_t lo_h, Py_ssize_t hi_h, Py_ssize_t lo_w,
                               Py_ssize_t hi_w, double* rho, double* peak, double* least) noexcept nogil


cdef void _contrast_chunk(const floating* z, Py_ssize_t nb, Py_ssize_t nc, Py_ssize_t C, Py_ssize_t H,
                          Py_ssize_t W, Py_ssize_t r, Py_ssize_t m, Py_ssize_t nty, Py_ssize_t ntx,
                          Py_ssize_t gh, Py_ssize_t gw, Py_ssize_t top, Py_ssize_t left, Py_ssize_t max_off,
                          Py_ssize_t max_len, Py_ssize_t org_len, Py_ssize_t lo_h, Py_ssize_t hi_h,
                          Py_ssize_t lo_w, Py_ssize_t hi_w, double* scratch, double* result) noexcept nogil:
    """Images 0 <= t < nb (<= nc) from z: result[3 t ..] = (rho, max|z|, 1 if a NaN else 0), rho = inf when
    a channel sum overflows z's type. Each image's channels are reduced to two H x W planes, which are laid
    on the grid as lane t; the grid part then runs for all lanes at once. scratch: 4 grids (gh x gw x nc),
    3 lanes (nc) and 2 planes (H x W, of z's type) at the end."""
    cdef Py_ssize_t grid = gh * gw * nc, t, i, k, i0, i1, k0, k1
    cdef double* S = scratch
    cdef double* X = S + grid
    cdef double* line = X + grid
    cdef double* box = line + grid
    cdef double* rho = box + grid
    cdef floating* plane_s = <floating*>(rho + 3 * nc)
    cdef floating* plane_m = plane_s + H * W
    cdef Py_ssize_t row = gw * nc
    i0, i1 = max(0, -top), min(H, gh - top)
    k0, k1 = max(0, -left), min(W, gw - left)
    # S and X are zero where no image lands: the padding around the planes, and the lanes past nb
    if i0 >= i1 or k0 >= k1 or nb < nc:
        memset(S, 0, 2 * grid * sizeof(double))
    else:
        for i in range(2):
            memset(S + i * grid, 0, (top + i0) * row * sizeof(double))
            memset(S + i * grid + (top + i1) * row, 0, (gh - top - i1) * row * sizeof(double))
            for k in range(top + i0, top + i1):
                memset(S + i * grid + k * row, 0, (left + k0) * nc * sizeof(double))
                memset(S + i * grid + k * row + (left + k1) * nc, 0, (gw - left - k1) * nc * sizeof(double))
    for t in range(nb):
        if floating is float:
            sn_wino_abs_planes_f(z + t * C * H * W, C, H * W, plane_s, plane_m)
            result[3 * t + 2] = sn_wino_plane_flags_f(plane_s, plane_m, H * W, &result[3 * t + 1])
        else:
            sn_wino_abs_planes_d(z + t * C * H * W, C, H * W, plane_s, plane_m)
            result[3 * t + 2] = sn_wino_plane_flags_d(plane_s, plane_m, H * W, &result[3 * t + 1])
        for i in range(i0, i1):
            for k in range(k0, k1):
                S[((top + i) * gw + left + k) * nc + t] = plane_s[i * W + k]
                X[((top + i) * gw + left + k) * nc + t] = plane_m[i * W + k]
    sn_wino_contrast_grid(S, X, line, box, gh, gw, nc, r, m, nty, ntx, <double>(C * r * r), max_off, max_len,
                          org_len, lo_h, hi_h, lo_w, hi_w, rho, rho + nc, rho + 2 * nc)
    for t in range(nb):
        result[3 * t] = INFINITY if result[3 * t + 2] != 0 or result[3 * t + 1] == INFINITY else rho[t]
        result[3 * t + 2] = result[3 * t + 2] == 1  # 2 (an overflowing sum) is not a NaN


def _contrast_into(const floating[:, :, :, ::1] z, double[:, ::1] result, Py_ssize_t r, Py_ssize_t m,
                   Py_ssize_t nty, Py_ssize_t ntx, Py_ssize_t gh, Py_ssize_t gw, Py_ssize_t top,
                   Py_ssize_t left, Py_ssize_t max_off, Py_ssize_t max_len, Py_ssize_t org_len,
                   Py_ssize_t lo_h, Py_ssize_t hi_h, Py_ssize_t lo_w, Py_ssize_t hi_w):
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1], H = z.shape[2], W = z.shape[3], chunk
    # images per chunk: 16 (two AVX-512 vectors of doubles per grid point) while a grid stays near 128 KB
    cdef Py_ssize_t nc = max(1, min(16, N, 16384 // (gh * gw)))
    cdef Py_ssize_t chunks = (N + nc - 1) // nc, each = 4 * gh * gw * nc + 3 * nc + 2 * H * W
    cdef int threads = sn_threads_for(N * C * H * W)  # sizes the per-thread scratch and the team
    cdef double[::1] scratch = _scratch(threads * each, np.float64)
    with nogil:
        for chunk in prange(chunks, schedule="static", num_threads=threads):
            _contrast_chunk(&z[chunk * nc, 0, 0, 0], min(nc, N - chunk * nc), nc, C, H, W, r, m, nty, ntx, gh,
                            gw, top, left, max_off, max_len, org_len, lo_h, hi_h, lo_w, hi_w,
                            &scratch[0] + threadid() * each, &result[chunk * nc, 0])


def tile_contrast(z, m, r, pad_top, pad_left, size_h, size_w, adjoint=False):
    """``(rho, max|z|)``: the tile contrast of x for F(m x m, r x r) (of dout when ``adjoint``), one pass over
    z, chunks of images in parallel."""
    z, m, r, alpha, pt, pl, sh, sw = prepare_tile_contrast(z, m, r, pad_top, pad_left, size_h, size_w)
    adjoint = bool(adjoint)
    (ty0, ty1, gy0, gh), (tx0, tx1, gx0, gw) = contrast_geometry(z.shape, m, r, pt, pl, sh, sw, adjoint)
    if adjoint:  # dout at (r - 1, r - 1); tile maxima over its m x m outputs; origins: the input pixels
        top, left, max_off, max_len, org_len = r - 1, r - 1, r - 1, m, alpha
        lo, hi = (pt - gy0, pl - gx0), (pt + sh - gy0, pl + sw - gx0)
    else:  # x at (pad_top, pad_left); tile maxima over its alpha x alpha inputs; origins: the outputs
        top, left, max_off, max_len, org_len = pt, pl, 0, alpha, m
        lo, hi = (-gy0, -gx0), (sh - gy0, sw - gx0)
    result = np.zeros((z.shape[0], 3))
    # no tile meets the image (a padding wider than the output): rho is 0, max|z| still read
    _contrast_into(z, result, r, m, ty1 - ty0, tx1 - tx0, max(gh, 1), max(gw, 1), top - gy0, left - gx0,
                   max_off, max_len, org_len, lo[0], hi[0], lo[1], hi[1])
    if result[:, 2].any():
        return float("inf"), float("nan")
    return float(result[:, 0].max()), float(result[:, 1].max())
