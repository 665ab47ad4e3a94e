# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled max/average pooling (see ``scratchnet/ops/pooling.py`` for the maths and the readable twin).

Same functions, arguments and results as the twin; the wrappers validate with the twin's helpers before
any ``nogil`` code runs: every size, padding and stride is then below ``INDEX_LIMIT`` (a quarter of the
``Py_ssize_t`` range), so the ``Py_ssize_t`` index sums below cannot overflow; every plane has at least
one pixel and every window at least one real pixel; ``argmax`` only holds indices inside its plane.

Every loop runs in parallel over the (image, channel) planes, and each plane of the output (or of ``dx``
in backward) is written by exactly one thread, in the twin's order, so results are bit-identical for any
thread count.
"""

import numpy as np

from cython.parallel cimport prange
from libc.string cimport memset
cimport cython
from cython cimport floating

from kernel_helpers cimport _end_real, _first_real, sn_threads_for

from scratchnet.ops.im2col import check_array, check_x_shape
from scratchnet.ops.pooling import (
    _window_counts,
    check_plane_indices,
    live_taps,
    prepare_maxpool_backward,
    prepare_pool,
)

__all__ = ["maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward"]


cdef void _maxpool_fwd(const floating* x, floating* out, int* arg, Py_ssize_t NC, Py_ssize_t H,
                       Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW,
                       Py_ssize_t work) noexcept nogil:
    cdef Py_ssize_t plane, y, xo, h, w, i0, i1, j0, j1, k, bi
    cdef const floating* xpl
    cdef floating best, v
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(work)):
        xpl = x + plane * H * W
        for y in range(OH):
            i0 = y * sh - pt
            i1 = i0 + kh
            if i0 < 0:
                i0 = 0
            if i1 > H:
                i1 = H
            for xo in range(OW):
                j0 = xo * sw - pl
                j1 = j0 + kw
                if j0 < 0:
                    j0 = 0
                if j1 > W:
                    j1 = W
                bi = i0 * W + j0
                best = xpl[bi]
                for h in range(i0, i1):
                    for w in range(j0, j1):
                        v = xpl[h * W + w]
                        # strictly greater keeps the first maximum; the first NaN wins, like np.argmax
                        if v > best or (v != v and best == best):
                            best = v
                            bi = h * W + w
                k = (plane * OH + y) * OW + xo
                out[k] = best
                arg[k] = <int>bi


cdef void _maxpool_bwd(const floating* dout, const int* arg, floating* dx, Py_ssize_t NC, Py_ssize_t HW,
                       Py_ssize_t P) noexcept nogil:
    cdef Py_ssize_t plane, k
    cdef floating* dpl
    cdef const floating* g
    cdef const int* a
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(NC * (HW + P))):
        dpl = dx + plane * HW
        g = dout + plane * P
        a = arg + plane * P
        memset(dpl, 0, HW * sizeof(floating))
        for k in range(P):
            dpl[a[k]] = dpl[a[k]] + g[k]


cdef void _avgpool_fwd(const floating* x, const floating* counts, floating* out, Py_ssize_t NC,
                       Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                       Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW,
                       Py_ssize_t work) noexcept nogil:
    cdef Py_ssize_t plane, y, xo, h, w, i0, i1, j0, j1
    cdef const floating* xpl
    cdef floating acc
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(work)):
        xpl = x + plane * H * W
        for y in range(OH):
            i0 = y * sh - pt
            i1 = i0 + kh
            if i0 < 0:
                i0 = 0
            if i1 > H:
                i1 = H
            for xo in range(OW):
                j0 = xo * sw - pl
                j1 = j0 + kw
                if j0 < 0:
                    j0 = 0
                if j1 > W:
                    j1 = W
                acc = 0
                for h in range(i0, i1):
                    for w in range(j0, j1):
                        acc = acc + xpl[h * W + w]
                out[(plane * OH + y) * OW + xo] = acc / counts[y * OW + xo]


cdef void _avgpool_bwd(const floating* dout, const floating* counts, floating* dx, Py_ssize_t NC,
                       Py_ssize_t H, Py_ssize_t W, const Py_ssize_t* row_taps, Py_ssize_t n_row_taps,
                       const Py_ssize_t* col_taps, Py_ssize_t n_col_taps, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW,
                       Py_ssize_t work) noexcept nogil:
    cdef Py_ssize_t plane, a, b, i, j, y, xo, h, lo, hi
    cdef floating* dst
    cdef floating* dpl
    cdef const floating* g
    cdef const floating* cnt
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(work)):
        dpl = dx + plane * H * W
        g = dout + plane * OH * OW
        memset(dpl, 0, H * W * sizeof(floating))
        # tap by tap in ascending (i, j), as the twin does, so every pixel sums its windows in the same
        # order; only the taps that reach a real pixel are listed (see live_taps in the twin)
        for a in range(n_row_taps):
            i = row_taps[a]
            for b in range(n_col_taps):
                j = col_taps[b]
                lo = _first_real(pl, j, sw, OW)
                hi = _end_real(W, pl, j, sw, OW)
                if lo >= hi:
                    continue
                for y in range(OH):
                    h = y * sh + i - pt
                    if h < 0 or h >= H:
                        continue
                    # pixel (h, lo*sw + j - pl) is the first real one this tap reaches in output row y
                    dst = dpl + h * W + (lo * sw + j - pl)
                    cnt = counts + y * OW + lo
                    for xo in range(hi - lo):
                        dst[xo * sw] = dst[xo * sw] + g[y * OW + lo + xo] / cnt[xo]


def _window_work(nc, h, w, oh, ow, kh, kw):
    """Work estimate for the thread count: a window visits at most ``min(kh, H) * min(kw, W)`` pixels.

    Python ints, capped so that no product of huge kernel sizes can overflow on its way into C."""
    return min(nc * (h * w + oh * ow * min(kh, h) * min(kw, w)), 2**62)


def maxpool_forward(x, kh, kw, stride=None, pad=0):
    """Max pooling of ``x`` (N, C, H, W); returns ``(out, argmax)`` with int32 plane indices ``h*W + w``."""
    x = check_array(x, 4, "x", "maxpool_forward")
    check_plane_indices(x.shape, "maxpool_forward")
    kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow) = prepare_pool(x.shape, kh, kw, stride, pad, "maxpool_forward")
    cdef Py_ssize_t NC = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3], OH = oh, OW = ow
    cdef Py_ssize_t ckh = kh, ckw = kw, csh = sh, csw = sw, cpt = pt, cpl = pl
    cdef Py_ssize_t work = _window_work(NC, H, W, OH, OW, kh, kw)
    out = np.empty((x.shape[0], x.shape[1], oh, ow), dtype=x.dtype)
    argmax = np.empty((x.shape[0], x.shape[1], oh, ow), dtype=np.int32)
    cdef int[:, :, :, ::1] a = argmax
    cdef const float[:, :, :, ::1] xf
    cdef float[:, :, :, ::1] of
    cdef const double[:, :, :, ::1] xd
    cdef double[:, :, :, ::1] od
    if x.dtype == np.float32:
        xf = x
        of = out
        with nogil:
            _maxpool_fwd(&xf[0, 0, 0, 0], &of[0, 0, 0, 0], &a[0, 0, 0, 0], NC, H, W, ckh, ckw, csh, csw,
                         cpt, cpl, OH, OW, work)
    else:
        xd = x
        od = out
        with nogil:
            _maxpool_fwd(&xd[0, 0, 0, 0], &od[0, 0, 0, 0], &a[0, 0, 0, 0], NC, H, W, ckh, ckw, csh, csw,
                         cpt, cpl, OH, OW, work)
    return out, argmax


def maxpool_backward(dout, argmax, x_shape):
    """Gradient of max pooling: ``dx[n, c].flat[argmax[n, c, y, x]] += dout[n, c, y, x]``."""
    dout, argmax, (n, c, h, w) = prepare_maxpool_backward(dout, argmax, x_shape)
    dx = np.empty((n, c, h, w), dtype=dout.dtype)
    cdef Py_ssize_t NC = n * c, HW = h * w, P = dout.shape[2] * dout.shape[3]
    if P == 0:  # (N, C, 0, OW): nothing flowed back
        dx[...] = 0
        return dx
    cdef const int[:, :, :, ::1] a = argmax
    cdef const float[:, :, :, ::1] gf
    cdef float[:, :, :, ::1] df
    cdef const double[:, :, :, ::1] gd
    cdef double[:, :, :, ::1] dd
    if dout.dtype == np.float32:
        gf = dout
        df = dx
        with nogil:
            _maxpool_bwd(&gf[0, 0, 0, 0], &a[0, 0, 0, 0], &df[0, 0, 0, 0], NC, HW, P)
    else:
        gd = dout
        dd = dx
        with nogil:
            _maxpool_bwd(&gd[0, 0, 0, 0], &a[0, 0, 0, 0], &dd[0, 0, 0, 0], NC, HW, P)
    return dx


def avgpool_forward(x, kh, kw, stride=None, pad=0, count_include_pad=False):
    """Average pooling of ``x`` (N, C, H, W); ``stride`` defaults to the kernel size."""
    x = check_array(x, 4, "x", "avgpool_forward")
    kh, kw, s, p, o = prepare_pool(x.shape, kh, kw, stride, pad, "avgpool_forward")
    counts = np.ascontiguousarray(_window_counts(x.shape, kh, kw, s, p, o, count_include_pad, x.dtype))
    cdef Py_ssize_t NC = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3], OH = o[0], OW = o[1]
    cdef Py_ssize_t ckh = kh, ckw = kw, csh = s[0], csw = s[1], cpt = p[0], cpl = p[2]
    cdef Py_ssize_t work = _window_work(NC, H, W, OH, OW, kh, kw)
    out = np.empty((x.shape[0], x.shape[1], OH, OW), dtype=x.dtype)
    cdef const float[:, :, :, ::1] xf
    cdef float[:, :, :, ::1] of
    cdef const double[:, :, :, ::1] xd
    cdef double[:, :, :, ::1] od
    cdef const float[:, ::1] cf
    cdef const double[:, ::1] cd
    if x.dtype == np.float32:
        xf = x
        of = out
        cf = counts
        with nogil:
            _avgpool_fwd(&xf[0, 0, 0, 0], &cf[0, 0], &of[0, 0, 0, 0], NC, H, W, ckh, ckw, csh, csw, cpt, cpl,
                         OH, OW, work)
    else:
        xd = x
        od = out
        cd = counts
        with nogil:
            _avgpool_fwd(&xd[0, 0, 0, 0], &cd[0, 0], &od[0, 0, 0, 0], NC, H, W, ckh, ckw, csh, csw, cpt, cpl,
                         OH, OW, work)
    return out


def avgpool_backward(dout, x_shape, kh, kw, stride=None, pad=0, count_include_pad=False):
    """Gradient of average pooling: each window's ``dout / count`` is added to all of its pixels."""
    who = "avgpool_backward"
    dout = check_array(dout, 4, "dout", who)
    x_shape = check_x_shape(x_shape, who)
    kh, kw, s, p, o = prepare_pool(x_shape, kh, kw, stride, pad, who)
    if tuple(dout.shape) != x_shape[:2] + o:
        raise ValueError(f"{who}: dout must have shape {x_shape[:2] + o}, got {tuple(dout.shape)}")
    counts = np.ascontiguousarray(_window_counts(x_shape, kh, kw, s, p, o, count_include_pad, dout.dtype))
    cdef Py_ssize_t NC = x_shape[0] * x_shape[1], H = x_shape[2], W = x_shape[3], OH = o[0], OW = o[1]
    cdef Py_ssize_t csh = s[0], csw = s[1], cpt = p[0], cpl = p[2]
    row_taps = np.asarray(live_taps(o[0], s[0], p[0], H, kh), dtype=np.intp)
    col_taps = np.asarray(live_taps(o[1], s[1], p[2], W, kw), dtype=np.intp)
    cdef const Py_ssize_t[::1] rt = row_taps
    cdef const Py_ssize_t[::1] ct = col_taps
    cdef Py_ssize_t n_rt = rt.shape[0], n_ct = ct.shape[0]
    cdef Py_ssize_t work = _window_work(NC, H, W, OH, OW, kh, kw)
    dx = np.empty(x_shape, dtype=dout.dtype)
    if n_rt == 0 or n_ct == 0:  # every window holds a real pixel, so this never happens
        dx[...] = 0
        return dx
    cdef const float[:, :, :, ::1] gf
    cdef float[:, :, :, ::1] df
    cdef const double[:, :, :, ::1] gd
    cdef double[:, :, :, ::1] dd
    cdef const float[:, ::1] cf
    cdef const double[:, ::1] cd
    if dout.dtype == np.float32:
        gf = dout
        df = dx
        cf = counts
        with nogil:
            _avgpool_bwd(&gf[0, 0, 0, 0], &cf[0, 0], &df[0, 0, 0, 0], NC, H, W, &rt[0], n_rt, &ct[0], n_ct,
                         csh, csw, cpt, cpl, OH, OW, work)
    else:
        gd = dout
        dd = dx
        cd = counts
        with nogil:
            _avgpool_bwd(&gd[0, 0, 0, 0], &cd[0, 0], &dd[0, 0, 0, 0], NC, H, W, &rt[0], n_rt, &ct[0], n_ct,
                         csh, csw, cpt, cpl, OH, OW, work)
    return dx
