# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled Winograd tile kernels (see ``scratchnet/ops/winograd.py`` for the maths and the readable twins).

The transforms themselves are matrix products (BLAS); what is left are four memory-bound rearrangements:
cutting the image into overlapping tiles, adding tile gradients back onto the image, and moving between the
tile layout and the image layout of the output. Same functions, arguments and results as the twins; the
wrappers validate with the twins' helpers (``scratchnet/ops/arguments.py``) before any ``nogil`` code, so
every index below stays inside its array.

Each loop runs in parallel over (image, channel) planes and each plane is written by one thread; in
``scatter_tiles`` a pixel receives its contributions in (i, j) order, the twin's order, so all four kernels
are bit-identical to their twins for any thread count.
"""

import numpy as np

from cython.parallel cimport prange
from libc.string cimport memset
from cython cimport floating

from kernel_helpers cimport sn_threads_for

from scratchnet.ops.arguments import (
    prepare_gather_tiles,
    prepare_image_to_tiles,
    prepare_scatter_tiles,
    prepare_tiles_to_image,
)

__all__ = ["gather_tiles", "scatter_tiles", "tiles_to_image", "image_to_tiles"]


cdef void _gather(const floating* x, floating* d, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                  Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t th,
                  Py_ssize_t tw) noexcept nogil:
    cdef Py_ssize_t plane, n, c, i, j, ty, tx, h, w, T = th * tw, CNT = C * N * th * tw
    cdef const floating* src
    cdef floating* dst
    # D[i, j, c, n, ty, tx] = x_pad[n, c, ty*m + i, tx*m + j]
    for plane in prange(N * C, schedule="static", num_threads=sn_threads_for(alpha * alpha * CNT)):
        n = plane // C
        c = plane % C
        src = x + plane * H * W
        for i in range(alpha):
            for j in range(alpha):
                dst = d + (i * alpha + j) * CNT + (c * N + n) * T
                for ty in range(th):
                    h = ty * m + i - pt
                    if h < 0 or h >= H:
                        for tx in range(tw):
                            dst[ty * tw + tx] = 0
                        continue
                    for tx in range(tw):
                        w = tx * m + j - pl
                        dst[ty * tw + tx] = src[h * W + w] if 0 <= w < W else 0


cdef void _scatter(const floating* d, floating* dx, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t m, Py_ssize_t alpha, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t th,
                   Py_ssize_t tw) noexcept nogil:
    cdef Py_ssize_t plane, n, c, i, j, ty, tx, h, w, T = th * tw, CNT = C * N * th * tw
    cdef const floating* src
    cdef floating* dst
    # dx[n, c, ty*m + i - pt, tx*m + j - pl] += D[i, j, c, n, ty, tx], in (i, j) order per pixel
    for plane in prange(N * C, schedule="static", num_threads=sn_threads_for(alpha * alpha * CNT)):
        n = plane // C
        c = plane % C
        dst = dx + plane * H * W
        memset(dst, 0, H * W * sizeof(floating))
        for i in range(alpha):
            for j in range(alpha):
                src = d + (i * alpha + j) * CNT + (c * N + n) * T
                for ty in range(th):
                    h = ty * m + i - pt
                    if h < 0 or h >= H:
                        continue
                    for tx in range(tw):
                        w = tx * m + j - pl
                        if 0 <= w < W:
                            dst[h * W + w] = dst[h * W + w] + src[ty * tw + tx]


cdef void _to_image(const floating* yt, const floating* bias, floating* y, Py_ssize_t N, Py_ssize_t F,
                    Py_ssize_t m, Py_ssize_t th, Py_ssize_t tw, Py_ssize_t OH,
                    Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t plane, n, f, a, b, ty, tx, h, w, T = th * tw, FNT = F * N * th * tw
    cdef floating bf
    cdef const floating* src
    cdef floating* dst
    # y[n, f, ty*m + a, tx*m + b] = yt[a, b, f, n, ty, tx] + bias[f] (cut to OH x OW)
    for plane in prange(N * F, schedule="static", num_threads=sn_threads_for(OH * OW * N * F)):
        n = plane // F
        f = plane % F
        bf = bias[f] if bias != NULL else 0
        dst = y + plane * OH * OW
        for a in range(m):
            for b in range(m):
                src = yt + (a * m + b) * FNT + (f * N + n) * T
                for ty in range(th):
                    h = ty * m + a
                    if h >= OH:
                        break
                    for tx in range(tw):
                        w = tx * m + b
                        if w >= OW:
                            break
                        if bias != NULL:
                            dst[h * OW + w] = src[ty * tw + tx] + bf
                        else:
                            dst[h * OW + w] = src[ty * tw + tx]


cdef void _to_tiles(const floating* dout, floating* dyt, Py_ssize_t N, Py_ssize_t F, Py_ssize_t m,
                    Py_ssize_t th, Py_ssize_t tw, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t plane, n, f, a, b, ty, tx, h, w, T = th * tw, FNT = F * N * th * tw
    cdef const floating* src
    cdef floating* dst
    # dyt[a, b, f, n, ty, tx] = dout[n, f, ty*m + a, tx*m + b] (0 past the edge)
    for plane in prange(N * F, schedule="static", num_threads=sn_threads_for(m * m * FNT)):
        n = plane // F
        f = plane % F
        src = dout + plane * OH * OW
        for a in range(m):
            for b in range(m):
                dst = dyt + (a * m + b) * FNT + (f * N + n) * T
                for ty in range(th):
                    h = ty * m + a
                    for tx in range(tw):
                        w = tx * m + b
                        dst[ty * tw + tx] = src[h * OW + w] if h < OH and w < OW else 0


def _gather_into(const floating[:, :, :, ::1] x, floating[:, :, :, :, :, ::1] d, Py_ssize_t m,
                 Py_ssize_t pt, Py_ssize_t pl):
    with nogil:
        _gather(&x[0, 0, 0, 0], &d[0, 0, 0, 0, 0, 0], x.shape[0], x.shape[1], x.shape[2], x.shape[3], m,
                d.shape[0], pt, pl, d.shape[4], d.shape[5])


def _scatter_into(const floating[:, :, :, :, :, ::1] d, floating[:, :, :, ::1] dx, Py_ssize_t m,
                  Py_ssize_t pt, Py_ssize_t pl):
    with nogil:
        _scatter(&d[0, 0, 0, 0, 0, 0], &dx[0, 0, 0, 0], dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3],
                 m, d.shape[0], pt, pl, d.shape[4], d.shape[5])


def _to_image_into(const floating[:, :, :, :, :, ::1] yt, const floating[::1] bias,
                   floating[:, :, :, ::1] y):
    cdef const floating* b = NULL
    if bias is not None:
        b = &bias[0]
    with nogil:
        _to_image(&yt[0, 0, 0, 0, 0, 0], b, &y[0, 0, 0, 0], y.shape[0], y.shape[1], yt.shape[0],
                  yt.shape[4], yt.shape[5], y.shape[2], y.shape[3])


def _to_tiles_into(const floating[:, :, :, ::1] dout, floating[:, :, :, :, :, ::1] dyt):
    with nogil:
        _to_tiles(&dout[0, 0, 0, 0], &dyt[0, 0, 0, 0, 0, 0], dout.shape[0], dout.shape[1], dyt.shape[0],
                  dyt.shape[4], dyt.shape[5], dout.shape[2], dout.shape[3])


def gather_tiles(x, m, alpha, pad_top, pad_left, th, tw, out=None):
    """The overlapping alpha x alpha tiles of ``x`` as (alpha, alpha, C, N, th, tw) (into ``out`` if given)."""
    x, m, alpha, pt, pl, th, tw = prepare_gather_tiles(x, m, alpha, pad_top, pad_left, th, tw, out)
    d = np.empty((alpha, alpha, x.shape[1], x.shape[0], th, tw), dtype=x.dtype) if out is None else out
    _gather_into(x, d, m, pt, pl)
    return d


def scatter_tiles(dd, x_shape, m, pad_top, pad_left):
    """Adjoint of ``gather_tiles``: every tile entry added back onto its pixel; returns dx."""
    dd, x_shape, m, pt, pl = prepare_scatter_tiles(dd, x_shape, m, pad_top, pad_left)
    dx = np.empty(x_shape, dtype=dd.dtype)
    _scatter_into(dd, dx, m, pt, pl)
    return dx


def tiles_to_image(yt, oh, ow, bias=None):
    """Output tiles (m, m, F, N, th, tw) as the image (N, F, oh, ow), plus ``bias``."""
    yt, oh, ow, bias = prepare_tiles_to_image(yt, oh, ow, bias)
    y = np.empty((yt.shape[3], yt.shape[2], oh, ow), dtype=yt.dtype)
    _to_image_into(yt, bias, y)
    return y


def image_to_tiles(dout, m, th, tw, out=None):
    """Adjoint of ``tiles_to_image`` without the bias: (N, F, OH, OW) -> (m, m, F, N, th, tw)."""
    dout, m, th, tw = prepare_image_to_tiles(dout, m, th, tw, out)
    dyt = np.empty((m, m, dout.shape[1], dout.shape[0], th, tw), dtype=dout.dtype) if out is None else out
    _to_tiles_into(dout, dyt)
    return dyt
