# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled im2col / col2im (see ``scratchnet/maths/im2col.py`` for the maths and the readable twin).

Same functions, arguments and results as the twin. The Python wrappers validate everything with the
twin's helpers (``scratchnet/arguments.py``) before any ``nogil`` code runs: every size, padding and
stride is then below ``INDEX_LIMIT`` (a quarter of the ``Py_ssize_t`` range), so the ``Py_ssize_t`` sums
and differences below cannot overflow, and every product is an offset inside an array that exists. The
loops then trust their indices, and they only form pointers to pixels that are inside ``x`` / ``dx``.

Parallelism is deterministic: ``im2col`` gives each thread whole rows of one image (disjoint writes);
``col2im`` gives each thread whole (image, channel) planes of ``dx``, and inside a plane contributions
are added in kernel order (i, j) -- the twin's order -- so the result does not depend on the thread count.

Each kernel is a ``nogil`` loop over raw pointers, written once for ``floating`` (float32 and float64);
a ``def`` entry taking fused-type memoryviews picks the specialisation from the arrays' dtype.
"""

import numpy as np

from cython.parallel cimport prange
from libc.string cimport memset
cimport cython
from cython cimport floating

from kernel_helpers cimport _end_real, _first_real, sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.arguments import prepare_col2im, prepare_im2col

__all__ = ["im2col", "col2im"]


cdef void _im2col(const floating* x, floating* cols, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                  Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t P = OH * OW, NP = N * OH * OW, taps = kh * kw
    cdef Py_ssize_t task, n, row, c, i, j, y, xo, h, lo, hi
    cdef const floating* src
    cdef floating* dst
    # cols[(c, i, j), (n, y, x)] = x_pad[n, c, y*sh + i, x*sw + j]
    # one task = one row of cols restricted to one image: disjoint writes, and N=1 still parallelises.
    # Consecutive tasks fill consecutive memory (row-major over (row, n)), so each thread streams its writes.
    for task in prange(N * C * taps, schedule="guided", num_threads=sn_threads_for(C * taps * NP)):
        row = task // N
        n = task % N
        c = row // taps
        i = (row % taps) // kw
        j = row % kw
        # output columns [lo, hi) read real pixels; the others read padding
        lo = _first_real(pl, j, sw, OW)
        hi = _end_real(W, pl, j, sw, OW)
        if lo > hi:
            lo = hi
        dst = cols + row * NP + n * P
        for y in range(OH):
            h = y * sh + i - pt
            if h < 0 or h >= H or lo == hi:
                for xo in range(OW):
                    dst[xo] = 0
            else:
                # pixel (h, lo*sw + j - pl) is the first real one this output row reads
                src = x + ((n * C + c) * H + h) * W + (lo * sw + j - pl)
                for xo in range(lo):
                    dst[xo] = 0
                if sw == 1:
                    for xo in range(hi - lo):
                        dst[lo + xo] = src[xo]
                else:
                    for xo in range(hi - lo):
                        dst[lo + xo] = src[xo * sw]
                for xo in range(hi, OW):
                    dst[xo] = 0
            dst = dst + OW


cdef void _col2im(const floating* cols, floating* dx, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                  Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t P = OH * OW, NP = N * OH * OW
    cdef Py_ssize_t plane, n, c, i, j, y, xo, h, lo, hi
    cdef const floating* src
    cdef floating* dst
    # dx[n, c, y*sh + i - pt, x*sw + j - pl] += cols[(c, i, j), (n, y, x)], for the pixels that exist
    # one task = one (image, channel) plane of dx: each pixel is summed by exactly one thread
    for plane in prange(N * C, schedule="guided", num_threads=sn_threads_for(C * kh * kw * NP)):
        n = plane // C
        c = plane % C
        memset(dx + plane * H * W, 0, H * W * sizeof(floating))
        for i in range(kh):
            for j in range(kw):
                lo = _first_real(pl, j, sw, OW)
                hi = _end_real(W, pl, j, sw, OW)
                if lo >= hi:
                    continue
                for y in range(OH):
                    h = y * sh + i - pt
                    if h < 0 or h >= H:
                        continue
                    src = cols + ((c * kh + i) * kw + j) * NP + n * P + y * OW + lo
                    dst = dx + (plane * H + h) * W + (lo * sw + j - pl)
                    if sw == 1:
                        for xo in range(hi - lo):
                            dst[xo] = dst[xo] + src[xo]
                    else:
                        for xo in range(hi - lo):
                            dst[xo * sw] = dst[xo * sw] + src[xo]


def _im2col_into(const floating[:, :, :, ::1] x, floating[:, ::1] cols, Py_ssize_t kh, Py_ssize_t kw,
                 Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t oh, Py_ssize_t ow):
    """Runs ``_im2col`` for ``x``'s dtype; every argument has been validated by ``prepare_im2col``."""
    with nogil:
        _im2col(&x[0, 0, 0, 0], &cols[0, 0], x.shape[0], x.shape[1], x.shape[2], x.shape[3], kh, kw, sh, sw,
                pt, pl, oh, ow)


def _col2im_into(const floating[:, ::1] cols, floating[:, :, :, ::1] dx, Py_ssize_t kh, Py_ssize_t kw,
                 Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t oh, Py_ssize_t ow):
    """Runs ``_col2im`` for ``cols``' dtype; every argument has been validated by ``prepare_col2im``."""
    with nogil:
        _col2im(&cols[0, 0], &dx[0, 0, 0, 0], dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3], kh, kw,
                sh, sw, pt, pl, oh, ow)


def im2col(x, kh, kw, stride=1, pad=0, out=None):
    """Receptive fields of ``x`` (N, C, H, W) as the columns of a ``(C*kh*kw, N*OH*OW)`` matrix."""
    x, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow) = prepare_im2col(x, kh, kw, stride, pad, out=out)
    if out is None:
        out = np.empty((x.shape[1] * kh * kw, x.shape[0] * oh * ow), dtype=x.dtype)
    _im2col_into(x, out, kh, kw, sh, sw, pt, pl, oh, ow)
    return out


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """Adjoint of ``im2col``: adds every entry of ``cols`` back onto its pixel; returns ``dx``."""
    cols, x_shape, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow) = prepare_col2im(
        cols, x_shape, kh, kw, stride, pad
    )
    dx = np.empty(x_shape, dtype=cols.dtype)
    _col2im_into(cols, dx, kh, kw, sh, sw, pt, pl, oh, ow)
    return dx
