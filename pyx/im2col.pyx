# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled im2col / col2im (see ``scratchnet/ops/im2col.py`` for the maths and the readable twin).

Same functions, arguments and results as the twin. The Python wrappers validate everything with the
twin's own helpers before any ``nogil`` code runs; the loops below then trust their indices.

Parallelism is deterministic: ``im2col`` gives each thread whole rows of one image (disjoint writes);
``col2im`` gives each thread whole (image, channel) planes of ``dx``, and inside a plane contributions
are added in kernel order (i, j) -- the twin's order -- so the result does not depend on the thread count.
"""

import numpy as np

from cython.parallel cimport prange
from libc.string cimport memcpy, memset
cimport cython
from cython cimport floating

from scratchnet.ops.im2col import check_out, prepare_col2im, prepare_im2col

__all__ = ["im2col", "col2im"]


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    /* Small jobs run on one thread: waking a team costs more than it saves, and on a busy machine a
       descheduled team member can stall the closing barrier for a whole time slice. */
    static int sn_threads_for(Py_ssize_t work) { return work < 65536 ? 1 : omp_get_max_threads(); }
    #else
    static int sn_threads_for(Py_ssize_t work) { (void)work; return 1; }
    #endif
    """
    int sn_threads_for(Py_ssize_t work) noexcept nogil

cdef void _im2col(const floating* x, floating* cols, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                  Py_ssize_t W, int kh, int kw, int sh, int sw, int pt, int pl,
                  Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t P = OH * OW, NP = N * OH * OW, K = C * kh * kw
    cdef Py_ssize_t task, n, row, c, y, xo, h, lo, hi
    cdef int i, j, rem
    cdef const floating* src
    cdef floating* dst
    # one task = one row of cols restricted to one image: disjoint writes, and N=1 still parallelises.
    # Consecutive tasks fill consecutive memory (row-major over (row, n)), so each thread streams its writes.
    for task in prange(N * K, schedule="guided", num_threads=sn_threads_for(K * NP)):
        row = task // N
        n = task % N
        c = row // (kh * kw)
        rem = row % (kh * kw)
        i = rem // kw
        j = rem % kw
        # output columns x with 0 <= x*sw + j - pl < W (the rest read padding)
        lo = 0
        if pl > j:
            lo = (pl - j + sw - 1) // sw
        hi = (W - 1 + pl - j) // sw + 1 if W - 1 + pl - j >= 0 else 0
        if hi > OW:
            hi = OW
        if lo > hi:
            lo = hi
        dst = cols + row * NP + n * P
        for y in range(OH):
            h = y * sh + i - pt
            if h < 0 or h >= H:
                for xo in range(OW):
                    dst[xo] = 0
            else:
                src = x + ((n * C + c) * H + h) * W + j - pl
                for xo in range(lo):
                    dst[xo] = 0
                if sw == 1:
                    for xo in range(lo, hi):
                        dst[xo] = src[xo]
                else:
                    for xo in range(lo, hi):
                        dst[xo] = src[xo * sw]
                for xo in range(hi, OW):
                    dst[xo] = 0
            dst = dst + OW


cdef void _col2im(const floating* cols, floating* dx, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                  Py_ssize_t W, int kh, int kw, int sh, int sw, int pt, int pl,
                  Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t P = OH * OW, NP = N * OH * OW
    cdef Py_ssize_t plane, n, c, y, xo, h, lo, hi, row
    cdef int i, j
    cdef const floating* src
    cdef floating* dst
    # one task = one (image, channel) plane of dx: each pixel is summed by exactly one thread
    for plane in prange(N * C, schedule="guided", num_threads=sn_threads_for(C * kh * kw * NP)):
        n = plane // C
        c = plane % C
        memset(dx + plane * H * W, 0, H * W * sizeof(floating))
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                lo = 0
                if pl > j:
                    lo = (pl - j + sw - 1) // sw
                hi = (W - 1 + pl - j) // sw + 1 if W - 1 + pl - j >= 0 else 0
                if hi > OW:
                    hi = OW
                for y in range(OH):
                    h = y * sh + i - pt
                    if h < 0 or h >= H:
                        continue
                    src = cols + row * NP + n * P + y * OW
                    dst = dx + (plane * H + h) * W + j - pl
                    if sw == 1:
                        for xo in range(lo, hi):
                            dst[xo] = dst[xo] + src[xo]
                    else:
                        for xo in range(lo, hi):
                            dst[xo * sw] = dst[xo * sw] + src[xo]


def im2col(x, kh, kw, stride=1, pad=0, out=None):
    """Receptive fields of ``x`` (N, C, H, W) as the columns of a ``(C*kh*kw, N*OH*OW)`` matrix."""
    x, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow) = prepare_im2col(x, kh, kw, stride, pad)
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    shape = (C * kh * kw, N * oh * ow)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    else:
        check_out(out, shape, x.dtype, "im2col")
    cdef float[:, :, :, ::1] xf
    cdef float[:, ::1] of
    cdef double[:, :, :, ::1] xd
    cdef double[:, ::1] od
    cdef int ckh = kh, ckw = kw, csh = sh, csw = sw, cpt = pt, cpl = pl
    cdef Py_ssize_t coh = oh, cow = ow
    if x.dtype == np.float32:
        xf = x
        of = out
        with nogil:
            _im2col(&xf[0, 0, 0, 0], &of[0, 0], N, C, H, W, ckh, ckw, csh, csw, cpt, cpl, coh, cow)
    else:
        xd = x
        od = out
        with nogil:
            _im2col(&xd[0, 0, 0, 0], &od[0, 0], N, C, H, W, ckh, ckw, csh, csw, cpt, cpl, coh, cow)
    return out


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """Adjoint of ``im2col``: adds every entry of ``cols`` back onto its pixel; returns ``dx``."""
    cols, (n, c, h, w), kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow) = prepare_col2im(
        cols, x_shape, kh, kw, stride, pad
    )
    dx = np.empty((n, c, h, w), dtype=cols.dtype)
    cdef float[:, ::1] cf
    cdef float[:, :, :, ::1] df
    cdef double[:, ::1] cd
    cdef double[:, :, :, ::1] dd
    cdef Py_ssize_t N = n, C = c, H = h, W = w, coh = oh, cow = ow
    cdef int ckh = kh, ckw = kw, csh = sh, csw = sw, cpt = pt, cpl = pl
    if cols.dtype == np.float32:
        cf = cols
        df = dx
        with nogil:
            _col2im(&cf[0, 0], &df[0, 0, 0, 0], N, C, H, W, ckh, ckw, csh, csw, cpt, cpl, coh, cow)
    else:
        cd = cols
        dd = dx
        with nogil:
            _col2im(&cd[0, 0], &dd[0, 0, 0, 0], N, C, H, W, ckh, ckw, csh, csw, cpt, cpl, coh, cow)
    return dx
