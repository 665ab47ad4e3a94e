# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled max/average pooling (see ``scratchnet/maths/pooling.py`` for the maths and the readable twin).

Same functions, arguments and results as the twin; the wrappers validate with the twin's helpers
(``scratchnet/arguments.py``) before any ``nogil`` code runs: every size, padding and stride is then
below ``INDEX_LIMIT`` (a quarter of the ``Py_ssize_t`` range), so the ``Py_ssize_t`` index sums below
cannot overflow; every plane has at least one pixel and every window at least one real pixel; ``argmax``
only holds indices inside its plane.

Every loop runs in parallel over the (image, channel) planes, and each plane of the output (or of ``dx``
in backward) is written by exactly one thread, in the twin's order, so results are bit-identical for any
thread count.

Each kernel is a ``nogil`` loop over raw pointers, written once for ``floating`` (float32 and float64);
a ``def`` entry taking fused-type memoryviews picks the specialisation from the arrays' dtype. Max pooling
with 2x2 windows at stride 2 inside the image (``sn_maxpool2``) is written branch-free, in AVX-512 for
float32 (rows shorter than a vector included) and as blends the compiler vectorises otherwise: the course
CNN's first pool, forward, 6.7 -> 2.5 (blends) -> 0.9 ms (AVX-512), 100x32x28x28, 2 threads; same bits.
"""

import numpy as np

from cython.parallel cimport prange
from libc.string cimport memset
cimport cython
from cython cimport floating

from kernel_helpers cimport (
    _end_real, _first_real, _window_end, _window_start, sn_pick_d, sn_pick_f, sn_pick_i, sn_share_thread_setting,
    sn_threads_for,
)

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.arguments import (
    pool_work,
    prepare_avgpool_backward,
    prepare_avgpool_forward,
    prepare_maxpool_backward,
    prepare_maxpool_forward,
)
from scratchnet.maths import pooling as twin
from scratchnet.maths.pooling import live_taps, window_counts

__all__ = ["maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward"]

cdef extern from "pooling.h":
    void sn_maxpool2_f(const float* r0, float* out, int* arg, int first, int W, int OW) noexcept nogil
    void sn_maxpool2_d(const double* r0, double* out, int* arg, int first, int W, int OW) noexcept nogil


cdef void _maxpool_fwd(const floating* x, floating* out, int* arg, Py_ssize_t NC, Py_ssize_t H,
                       Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW,
                       Py_ssize_t work) noexcept nogil:
    cdef Py_ssize_t plane, y, xo, h, w, i0, i1, j0, j1, k, bi
    cdef const floating* xpl
    cdef floating best, v
    # out[n, c, y, x] = max over (i, j) of x_pad[n, c, y*sh + i, x*sw + j]; arg[n, c, y, x] = its h*W + w
    cdef bint pairs = kh == 2 and kw == 2 and sh == 2 and sw == 2 and pt == 0 and pl == 0 and 2 * OH <= H and 2 * OW <= W
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(work)):
        xpl = x + plane * H * W
        for y in range(OH):
            if pairs:  # no window crosses the border
                k = (plane * OH + y) * OW
                if floating is float:
                    sn_maxpool2_f(xpl + 2 * y * W, out + k, arg + k, <int>(2 * y * W), <int>W, <int>OW)
                else:
                    sn_maxpool2_d(xpl + 2 * y * W, out + k, arg + k, <int>(2 * y * W), <int>W, <int>OW)
                continue
            i0 = _window_start(y, sh, pt)
            i1 = _window_end(y, sh, pt, kh, H)
            for xo in range(OW):
                j0 = _window_start(xo, sw, pl)
                j1 = _window_end(xo, sw, pl, kw, W)
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
    # dx[n, c].flat[argmax[n, c, y, x]] += dout[n, c, y, x]
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(NC * (HW + P))):
        dpl = dx + plane * HW
        g = dout + plane * P
        a = arg + plane * P
        memset(dpl, 0, HW * sizeof(floating))
        for k in range(P):
            dpl[a[k]] = dpl[a[k]] + g[k]


cdef void _maxpool_relu_bwd(const floating* dout, const int* arg, const floating* relu_x, floating* dx,
                            Py_ssize_t NC, Py_ssize_t HW, Py_ssize_t P) noexcept nogil:
    cdef Py_ssize_t plane, k
    cdef floating* dpl
    cdef const floating* xpl
    cdef const floating* g
    cdef const int* a
    # windows that do not overlap: dx[n, c].flat[p] = (0 + dout[n, c, y, x]) * (relu_x[n, c].flat[p] > 0)
    # for p = argmax[n, c, y, x], the ReLU's backward of max pooling's, in the reference's operations
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(NC * (HW + P))):
        dpl = dx + plane * HW
        xpl = relu_x + plane * HW
        g = dout + plane * P
        a = arg + plane * P
        memset(dpl, 0, HW * sizeof(floating))
        for k in range(P):
            dpl[a[k]] = (dpl[a[k]] + g[k]) * <floating>(xpl[a[k]] > 0)


cdef void _avgpool_fwd(const floating* x, const floating* counts, floating* out, Py_ssize_t NC,
                       Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                       Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW,
                       Py_ssize_t work) noexcept nogil:
    cdef Py_ssize_t plane, y, xo, h, w, i0, i1, j0, j1
    cdef const floating* xpl
    cdef floating acc
    # out[n, c, y, x] = sum over (i, j) of x_pad[n, c, y*sh + i, x*sw + j] / counts[y, x]
    for plane in prange(NC, schedule="guided", num_threads=sn_threads_for(work)):
        xpl = x + plane * H * W
        for y in range(OH):
            i0 = _window_start(y, sh, pt)
            i1 = _window_end(y, sh, pt, kh, H)
            for xo in range(OW):
                j0 = _window_start(xo, sw, pl)
                j1 = _window_end(xo, sw, pl, kw, W)
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
    # dx[n, c, y*sh + i - pt, x*sw + j - pl] += dout[n, c, y, x] / counts[y, x], for the pixels that exist
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


def _maxpool_forward_into(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                          int[:, :, :, ::1] argmax, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                          Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t work):
    """Runs ``_maxpool_fwd`` for ``x``'s dtype; ``prepare_maxpool_forward`` has validated every argument."""
    with nogil:
        _maxpool_fwd(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &argmax[0, 0, 0, 0], x.shape[0] * x.shape[1],
                     x.shape[2], x.shape[3], kh, kw, sh, sw, pt, pl, out.shape[2], out.shape[3], work)


def _maxpool_backward_into(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] argmax,
                           floating[:, :, :, ::1] dx):
    """Runs ``_maxpool_bwd`` for ``dout``'s dtype; every argument has been validated by
    ``prepare_maxpool_backward``, and ``dout`` has at least one output pixel per plane."""
    with nogil:
        _maxpool_bwd(&dout[0, 0, 0, 0], &argmax[0, 0, 0, 0], &dx[0, 0, 0, 0], dx.shape[0] * dx.shape[1],
                     dx.shape[2] * dx.shape[3], dout.shape[2] * dout.shape[3])


def _maxpool_relu_backward_into(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] argmax,
                                const floating[:, :, :, ::1] relu_x, floating[:, :, :, ::1] dx):
    """Runs ``_maxpool_relu_bwd`` for ``dout``'s dtype (arguments validated by ``maxpool_relu_backward``)."""
    with nogil:
        _maxpool_relu_bwd(&dout[0, 0, 0, 0], &argmax[0, 0, 0, 0], &relu_x[0, 0, 0, 0], &dx[0, 0, 0, 0],
                          dx.shape[0] * dx.shape[1], dx.shape[2] * dx.shape[3], dout.shape[2] * dout.shape[3])


def _avgpool_forward_into(const floating[:, :, :, ::1] x, const floating[:, ::1] counts,
                          floating[:, :, :, ::1] out, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                          Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t work):
    """Runs ``_avgpool_fwd`` for ``x``'s dtype; ``prepare_avgpool_forward`` has validated every argument."""
    with nogil:
        _avgpool_fwd(&x[0, 0, 0, 0], &counts[0, 0], &out[0, 0, 0, 0], x.shape[0] * x.shape[1], x.shape[2],
                     x.shape[3], kh, kw, sh, sw, pt, pl, out.shape[2], out.shape[3], work)


def _avgpool_backward_into(const floating[:, :, :, ::1] dout, const floating[:, ::1] counts,
                           floating[:, :, :, ::1] dx, const Py_ssize_t[::1] row_taps,
                           const Py_ssize_t[::1] col_taps, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt,
                           Py_ssize_t pl, Py_ssize_t work):
    """Runs ``_avgpool_bwd`` for ``dout``'s dtype; every argument has been validated by
    ``prepare_avgpool_backward``, and both tap lists are non-empty."""
    with nogil:
        _avgpool_bwd(&dout[0, 0, 0, 0], &counts[0, 0], &dx[0, 0, 0, 0], dx.shape[0] * dx.shape[1],
                     dx.shape[2], dx.shape[3], &row_taps[0], row_taps.shape[0], &col_taps[0],
                     col_taps.shape[0], sh, sw, pt, pl, dout.shape[2], dout.shape[3], work)


def maxpool_forward(x, kh, kw, stride=None, pad=0):
    """Max pooling of ``x`` (N, C, H, W); returns ``(out, argmax)`` with int32 plane indices ``h*W + w``."""
    x, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow) = prepare_maxpool_forward(x, kh, kw, stride, pad)
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.int32)
    _maxpool_forward_into(x, out, argmax, kh, kw, sh, sw, pt, pl, pool_work(n * c, h, w, oh, ow, kh, kw))
    return out, argmax


def maxpool_backward(dout, argmax, x_shape):
    """Gradient of max pooling: ``dx[n, c].flat[argmax[n, c, y, x]] += dout[n, c, y, x]``."""
    dout, argmax, x_shape = prepare_maxpool_backward(dout, argmax, x_shape)
    dx = np.empty(x_shape, dtype=dout.dtype)
    if dout.shape[2] * dout.shape[3] == 0:  # (N, C, 0, OW): nothing flowed back
        dx[...] = 0
        return dx
    _maxpool_backward_into(dout, argmax, dx)
    return dx


def maxpool_relu_backward(dout, argmax, relu_x):
    """A ReLU's backward after max pooling's, in one pass, for pooling windows that do not overlap:
    ``maxpool_backward(dout, argmax, relu_x.shape) * (relu_x > 0)`` with ``relu_x`` the ReLU's input (the
    twin's expression, bit for bit; overlapping windows would sum before the mask)."""
    dout, argmax, x_shape = prepare_maxpool_backward(dout, argmax, getattr(relu_x, "shape", None),
                                                     "maxpool_relu_backward")
    if not (type(relu_x) is np.ndarray and relu_x.dtype == dout.dtype and relu_x.flags.c_contiguous
            and dout.shape[2] * dout.shape[3] > 0):
        return twin.maxpool_relu_backward(dout, argmax, relu_x)
    dx = np.empty(x_shape, dtype=dout.dtype)
    _maxpool_relu_backward_into(dout, argmax, relu_x, dx)
    return dx


def avgpool_forward(x, kh, kw, stride=None, pad=0, count_include_pad=False):
    """Average pooling of ``x`` (N, C, H, W); ``stride`` defaults to the kernel size."""
    x, kh, kw, s, p, o = prepare_avgpool_forward(x, kh, kw, stride, pad)
    n, c, h, w = x.shape
    counts = np.ascontiguousarray(window_counts(x.shape, kh, kw, s, p, o, count_include_pad, x.dtype))
    out = np.empty((n, c) + o, dtype=x.dtype)
    _avgpool_forward_into(x, counts, out, kh, kw, s[0], s[1], p[0], p[2],
                          pool_work(n * c, h, w, o[0], o[1], kh, kw))
    return out


def avgpool_backward(dout, x_shape, kh, kw, stride=None, pad=0, count_include_pad=False):
    """Gradient of average pooling: each window's ``dout / count`` is added to all of its pixels."""
    dout, x_shape, kh, kw, s, p, o = prepare_avgpool_backward(dout, x_shape, kh, kw, stride, pad)
    n, c, h, w = x_shape
    counts = np.ascontiguousarray(window_counts(x_shape, kh, kw, s, p, o, count_include_pad, dout.dtype))
    row_taps = np.asarray(live_taps(o[0], s[0], p[0], h, kh), dtype=np.intp)
    col_taps = np.asarray(live_taps(o[1], s[1], p[2], w, kw), dtype=np.intp)
    dx = np.empty(x_shape, dtype=dout.dtype)
    if row_taps.size == 0 or col_taps.size == 0:  # every window holds a real pixel, so this never happens
        dx[...] = 0
        return dx
    _avgpool_backward_into(dout, counts, dx, row_taps, col_taps, s[0], s[1], p[0], p[2],
                           pool_work(n * c, h, w, o[0], o[1], kh, kw))
    return dx
