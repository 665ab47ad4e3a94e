# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled direct convolution for few input channels (see ``scratchnet/fast/direct_conv.py`` for the maths
and the readable twin).

Same functions, arguments and results as the twin, to rounding (the sums run in another order). The
wrappers validate with the twin's helpers (``scratchnet/arguments.py``) before any ``nogil`` code: every
size, padding and stride is then below ``INDEX_LIMIT``, and for each tap only the output positions that
read real pixels are visited (``_first_real`` / ``_end_real``), so every pointer stays inside its array.

Stride 1 (the usual case, and all of the course's layers) runs on register tiles. Forward and dW read a
zero-padded copy of the image, so no loop tests a bound; dx reads the upstream gradients in place, each
vector as a masked load of the lanes inside its row (rows past the edge read a zero row). The tile's accumulators stay in vector registers while the sums over taps
(or images) run, written as GCC vector extensions (one register of T, 64 bytes with AVX-512), the sums as
fused multiply-adds. With AVX-512 and float32 (half the filters or rows on narrower registers):

* ``conv_forward``: 8 filters x 32 output columns of one output row, summed over channels and taps;
* ``conv_backward_input``: 8 (or 7) rows x 32 columns of dx, summed over filters and taps (a gather:
  each dx element is written once); for kernels of 3 or 5 rows each loaded row of gradients serves every
  tap that reads it;
* ``conv_backward_weights`` / ``conv_backward_params``: 3 filters x 5 taps of dW and the 3 filters' db,
  one vector of output columns at a time, summed over one image's rows and columns in the vector's lanes,
  then added into float64 sums (so float32 sums never run over the whole batch: dW and db are more
  accurate than NumPy's float32 sums), the lanes added last.

Other strides run the original loops: ``conv_forward`` in parallel over output rows, computing a block of
32 filters from each loaded input row (32 columns at a time, the vectorised axis; at column stride 1 the
loaded row is one span of the padded row, copied once and read by every tap as a slice, other strides
gather each tap's lanes), ``conv_backward_weights`` over blocks of 8 filters the same way, and
``conv_backward_input`` over input planes, adding each tap's row of products in place. Each output element
is written by one thread in a fixed order, so results do not depend on the thread count.
Scratch space is allocated by the wrappers, per thread or per block.
"""

import numpy as np

from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset
from cython cimport floating

from kernel_helpers cimport _end_real, _first_real, sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from .relu import relu_in_place  # the same level's relu kernel
from scratchnet.arguments import (
    prepare_direct_backward_input,
    prepare_direct_backward_weights,
    prepare_direct_forward,
)

__all__ = ["conv_forward", "conv_backward_weights", "conv_backward_params", "conv_backward_input"]

cdef enum:
    LANES = 32  # output columns computed together (the vectorised axis)
    BLOCK = 32  # filters (or channels) computed together from one loaded row
    WEIGHT_BLOCK = 8  # filters whose weight gradients share one pass over the input


cdef extern from "direct_conv.h":
    void sn_direct_fma_f(float* acc, const float* row, const float* coefs, Py_ssize_t stride,
                         Py_ssize_t nf) noexcept nogil
    void sn_direct_fma_d(double* acc, const double* row, const double* coefs, Py_ssize_t stride,
                         Py_ssize_t nf) noexcept nogil
    void sn_direct_tap_f(float* acc, const float* g, const float* row, Py_ssize_t nf,
                         Py_ssize_t acc_stride) noexcept nogil
    void sn_direct_tap_d(double* acc, const double* g, const double* row, Py_ssize_t nf,
                         Py_ssize_t acc_stride) noexcept nogil
    enum:
        SN_S1_BYTES
        SN_S1_FILTERS
        SN_S1_ROWS
        SN_S1_WFILTERS
        SN_S1_TAPS
    void sn_s1_forward_f(const float* xp, const float* wp, const float* bias, float* y, Py_ssize_t C,
                         Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t oy,
                         Py_ssize_t F, Py_ssize_t plane, Py_ssize_t OW, int relu) noexcept nogil
    void sn_s1_forward_d(const double* xp, const double* wp, const double* bias, double* y, Py_ssize_t C,
                         Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t oy,
                         Py_ssize_t F, Py_ssize_t plane, Py_ssize_t OW, int relu) noexcept nogil
    void sn_s1_input_f(const float* g, const float* zero, const float* w, float* dx, Py_ssize_t F, Py_ssize_t wstride,
                       Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t pt, Py_ssize_t pl,
                       Py_ssize_t y0, Py_ssize_t rows, Py_ssize_t x0, Py_ssize_t width, Py_ssize_t W,
                       int rb) noexcept nogil
    void sn_s1_input_d(const double* g, const double* zero, const double* w, double* dx, Py_ssize_t F, Py_ssize_t wstride,
                       Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t pt, Py_ssize_t pl,
                       Py_ssize_t y0, Py_ssize_t rows, Py_ssize_t x0, Py_ssize_t width, Py_ssize_t W,
                       int rb) noexcept nogil
    void sn_s1_weights_f(const float* xpad, const float* g, double* out, const Py_ssize_t* offsets, Py_ssize_t N,
                         Py_ssize_t C, Py_ssize_t c, Py_ssize_t F, Py_ssize_t f0, Py_ssize_t nf, Py_ssize_t PH,
                         Py_ssize_t PW, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    void sn_s1_weights_d(const double* xpad, const double* g, double* out, const Py_ssize_t* offsets,
                         Py_ssize_t N, Py_ssize_t C, Py_ssize_t c, Py_ssize_t F, Py_ssize_t f0, Py_ssize_t nf,
                         Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil


cdef inline void _fma(floating* acc, const floating* row, const floating* coefs, Py_ssize_t stride,
                      Py_ssize_t nf) noexcept nogil:
    if floating is float:
        sn_direct_fma_f(acc, row, coefs, stride, nf)
    else:
        sn_direct_fma_d(acc, row, coefs, stride, nf)


cdef inline void _tap_fma(floating* acc, const floating* g, const floating* row, Py_ssize_t nf,
                          Py_ssize_t acc_stride) noexcept nogil:
    if floating is float:
        sn_direct_tap_f(acc, g, row, nf, acc_stride)
    else:
        sn_direct_tap_d(acc, g, row, nf, acc_stride)


cdef inline void _s1_forward_row(const floating* xp, const floating* wp, const floating* bias, floating* y,
                                 Py_ssize_t C, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t kh, Py_ssize_t kw,
                                 Py_ssize_t oy, Py_ssize_t F, Py_ssize_t plane, Py_ssize_t OW, int relu) noexcept nogil:
    if floating is float:
        sn_s1_forward_f(xp, wp, bias, y, C, PH, PW, kh, kw, oy, F, plane, OW, relu)
    else:
        sn_s1_forward_d(xp, wp, bias, y, C, PH, PW, kh, kw, oy, F, plane, OW, relu)


cdef inline void _s1_input_tile(const floating* g, const floating* zero, const floating* w, floating* dx,
                                Py_ssize_t F, Py_ssize_t wstride, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t kh,
                                Py_ssize_t kw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t y0, Py_ssize_t rows,
                                Py_ssize_t x0, Py_ssize_t width, Py_ssize_t W, int rb) noexcept nogil:
    if floating is float:
        sn_s1_input_f(g, zero, w, dx, F, wstride, OH, OW, kh, kw, pt, pl, y0, rows, x0, width, W, rb)
    else:
        sn_s1_input_d(g, zero, w, dx, F, wstride, OH, OW, kh, kw, pt, pl, y0, rows, x0, width, W, rb)


cdef inline void _s1_weights_tile(const floating* xpad, const floating* g, double* out,
                                  const Py_ssize_t* offsets, Py_ssize_t N, Py_ssize_t C, Py_ssize_t c,
                                  Py_ssize_t F, Py_ssize_t f0, Py_ssize_t nf, Py_ssize_t PH, Py_ssize_t PW,
                                  Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    if floating is float:
        sn_s1_weights_f(xpad, g, out, offsets, N, C, c, F, f0, nf, PH, PW, OH, OW)
    else:
        sn_s1_weights_d(xpad, g, out, offsets, N, C, c, F, f0, nf, PH, PW, OH, OW)


cdef inline Py_ssize_t _span_size(Py_ssize_t kw, Py_ssize_t W) noexcept nogil:
    """Room for the span of one input row that a chunk of LANES stride-1 output columns reads."""
    return LANES + min(kw, W + LANES)


cdef inline void _load_lanes(const floating* row, floating* lanes, Py_ssize_t first, Py_ssize_t step,
                             Py_ssize_t width, Py_ssize_t size) noexcept nogil:
    """lanes[t] = row[first + t*step] where 0 <= that < size and t < width, else 0."""
    cdef Py_ssize_t t, k
    for t in range(LANES):
        k = first + t * step
        lanes[t] = row[k] if t < width and 0 <= k < size else 0


cdef inline Py_ssize_t _load_span(const floating* row, floating* span, Py_ssize_t ox0, Py_ssize_t pl,
                                  Py_ssize_t kw, Py_ssize_t size, Py_ssize_t* jhi) noexcept nogil:
    """For stride 1: the taps j in [jlo, jhi) that read at least one real pixel for output columns ox0 ..
    ox0+LANES-1, and span[k] = row[ox0 - pl + jlo + k] (0 in the padding) for the columns they read, so
    tap j's lanes are span[j - jlo:]. Returns jlo."""
    cdef Py_ssize_t jlo = max(0, pl - ox0 - (LANES - 1)), first = ox0 - pl + jlo
    jhi[0] = min(kw, size + pl - ox0)
    cdef Py_ssize_t count = max(0, jhi[0] - jlo + LANES - 1)
    cdef Py_ssize_t lo = min(max(0, -first), count), hi = max(lo, min(size - first, count))  # real: [lo, hi)
    memset(span, 0, lo * sizeof(floating))
    if hi > lo:
        memcpy(span + lo, row + first + lo, (hi - lo) * sizeof(floating))
    memset(span + hi, 0, (count - hi) * sizeof(floating))
    return jlo


cdef void _forward_row(const floating* x, const floating* w, const floating* b, floating* y, floating* scratch,
                       Py_ssize_t n, Py_ssize_t oy, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt,
                       Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef floating acc[BLOCK * LANES]
    cdef floating* lanes = scratch  # (LANES,), then the span of the current input row
    cdef floating* span = scratch + LANES
    cdef Py_ssize_t f0, nf, ox0, width, fb, t, c, i, j, h, jlo, jhi
    cdef const floating* row
    cdef floating v
    # y[n, f, oy, ox] = b[f] + sum over c, i, j of W[f, c, i, j] * x_pad[n, c, oy*sh + i, ox*sw + j]
    f0 = 0
    while f0 < F:
        nf = min(BLOCK, F - f0)
        ox0 = 0
        while ox0 < OW:
            width = min(LANES, OW - ox0)
            for fb in range(nf):
                v = b[f0 + fb] if b != NULL else 0
                for t in range(LANES):
                    acc[fb * LANES + t] = v
            for c in range(C):
                for i in range(kh):
                    h = oy * sh + i - pt
                    if h < 0 or h >= H:
                        continue
                    row = x + ((n * C + c) * H + h) * W
                    if sw == 1:  # every tap's lanes are a slice of one loaded span
                        jlo = _load_span(row, span, ox0, pl, kw, W, &jhi)
                        for j in range(jlo, jhi):
                            _fma(acc, span + j - jlo, w + ((f0 * C + c) * kh + i) * kw + j, C * kh * kw, nf)
                    else:
                        for j in range(kw):
                            _load_lanes(row, lanes, ox0 * sw + j - pl, sw, width, W)
                            _fma(acc, lanes, w + ((f0 * C + c) * kh + i) * kw + j, C * kh * kw, nf)
            for fb in range(nf):
                for t in range(width):
                    y[((n * F + f0 + fb) * OH + oy) * OW + ox0 + t] = acc[fb * LANES + t]
            ox0 = ox0 + LANES
        f0 = f0 + BLOCK


cdef void _forward(const floating* x, const floating* w, const floating* b, floating* y, floating* scratch,
                   Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F, Py_ssize_t kh,
                   Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH,
                   Py_ssize_t OW, int threads) noexcept nogil:
    cdef Py_ssize_t task
    for task in prange(N * OH, schedule="static", num_threads=threads):
        _forward_row(x, w, b, y, scratch + threadid() * (LANES + _span_size(kw, W)), task // OH, task % OH, C, H, W,
                     F, kh, kw, sh, sw, pt, pl, OH, OW)


cdef void _weights_block(const floating* x, const floating* dout, floating* dw, floating* scratch, Py_ssize_t f0,
                         Py_ssize_t nf, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt,
                         Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t c, i, j, h, n, oy, t, fb, ox0, width, jlo, jhi, kk = kh * kw
    cdef const floating* row
    cdef floating* acc = scratch  # (nf, kh*kw, LANES), then g (nf, LANES), lanes (LANES,) and the span
    cdef floating* g = acc + nf * kk * LANES
    cdef floating* lanes = g + nf * LANES
    cdef floating* span = lanes + LANES
    cdef floating total
    # dW[f, c, i, j] = sum over n, oy, ox of dout[n, f, oy, ox] * x_pad[n, c, oy*sh + i, ox*sw + j], for the
    # filters f0 .. f0+nf-1: one accumulator lane per output column of a chunk, summed at the end
    for c in range(C):
        memset(acc, 0, nf * kk * LANES * sizeof(floating))
        for n in range(N):
            for oy in range(OH):
                ox0 = 0
                while ox0 < OW:
                    width = min(LANES, OW - ox0)
                    for fb in range(nf):  # g[fb, t] = dout[n, f0 + fb, oy, ox0 + t] (0 past the row's end)
                        for t in range(LANES):
                            g[fb * LANES + t] = dout[((n * F + f0 + fb) * OH + oy) * OW + ox0 + t] if t < width else 0
                    for i in range(kh):
                        h = oy * sh + i - pt
                        if h < 0 or h >= H:
                            continue
                        row = x + ((n * C + c) * H + h) * W
                        if sw == 1:
                            jlo = _load_span(row, span, ox0, pl, kw, W, &jhi)
                            for j in range(jlo, jhi):
                                _tap_fma(acc + (i * kw + j) * LANES, g, span + j - jlo, nf, kk * LANES)
                        else:
                            for j in range(kw):
                                _load_lanes(row, lanes, ox0 * sw + j - pl, sw, width, W)
                                _tap_fma(acc + (i * kw + j) * LANES, g, lanes, nf, kk * LANES)
                    ox0 = ox0 + LANES
        for fb in range(nf):
            for i in range(kk):
                total = 0
                for t in range(LANES):
                    total = total + acc[(fb * kk + i) * LANES + t]
                dw[((f0 + fb) * C + c) * kk + i] = total


cdef inline Py_ssize_t _scratch_size(Py_ssize_t kk, Py_ssize_t kw, Py_ssize_t W) noexcept nogil:
    """Scratch entries of one block of filters: accumulators, upstream gradients, lanes and span."""
    return (WEIGHT_BLOCK * kk + WEIGHT_BLOCK + 1) * LANES + _span_size(kw, W)


cdef void _weights(const floating* x, const floating* dout, floating* dw, floating* scratch, Py_ssize_t N, Py_ssize_t C,
                   Py_ssize_t H, Py_ssize_t W, Py_ssize_t F, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                   Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t block, blocks = (F + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    for block in prange(blocks, schedule="static", num_threads=sn_threads_for(N * F * C * kh * kw * OH * OW)):
        _weights_block(x, dout, dw, scratch + block * _scratch_size(kh * kw, kw, W), block * WEIGHT_BLOCK,
                       min(WEIGHT_BLOCK, F - block * WEIGHT_BLOCK), N, C, H, W, F, kh, kw, sh, sw, pt, pl, OH, OW)


cdef void _input_plane(const floating* dout, const floating* w, floating* dx, Py_ssize_t n, Py_ssize_t c,
                       Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F, Py_ssize_t kh, Py_ssize_t kw,
                       Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH,
                       Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t f, i, j, oy, ox, y0, y1, x0, x1
    cdef floating coef
    cdef const floating* g
    cdef floating* row
    memset(dx, 0, H * W * sizeof(floating))
    # dx[n, c, oy*sh + i - pt, ox*sw + j - pl] += W[f, c, i, j] * dout[n, f, oy, ox]
    for f in range(F):
        for i in range(kh):
            y0 = _first_real(pt, i, sh, OH)
            y1 = _end_real(H, pt, i, sh, OH)
            for j in range(kw):
                x0 = _first_real(pl, j, sw, OW)
                x1 = _end_real(W, pl, j, sw, OW)
                if x0 >= x1:
                    continue
                coef = w[((f * C + c) * kh + i) * kw + j]
                for oy in range(y0, y1):
                    g = dout + ((n * F + f) * OH + oy) * OW + x0
                    row = dx + (oy * sh + i - pt) * W + x0 * sw + j - pl
                    if sw == 1:
                        for ox in range(x1 - x0):
                            row[ox] = row[ox] + coef * g[ox]
                    else:
                        for ox in range(x1 - x0):
                            row[ox * sw] = row[ox * sw] + coef * g[ox]


cdef void _input(const floating* dout, const floating* w, floating* dx, Py_ssize_t N, Py_ssize_t C,
                 Py_ssize_t H, Py_ssize_t W, Py_ssize_t F, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                 Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    cdef Py_ssize_t plane
    for plane in prange(N * C, schedule="static", num_threads=sn_threads_for(N * F * C * kh * kw * OH * OW)):
        _input_plane(dout, w, dx + plane * H * W, plane // C, plane % C, C, H, W, F, kh, kw, sh, sw, pt, pl,
                     OH, OW)


# -- stride 1 ------------------------------------------------------------------------------------------------
cdef void _s1_forward(const floating* xp, const floating* wp, const floating* bp, floating* y, Py_ssize_t N,
                      Py_ssize_t C, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t F, Py_ssize_t kh, Py_ssize_t kw,
                      Py_ssize_t OH, Py_ssize_t OW, int relu, int threads) noexcept nogil:
    cdef Py_ssize_t task, n, oy
    for task in prange(N * OH, schedule="static", num_threads=threads):
        n = task // OH
        oy = task % OH
        _s1_forward_row(xp + n * C * PH * PW, wp, bp, y + n * F * OH * OW, C, PH, PW, kh, kw, oy, F, OH * OW, OW,
                        relu)


def _s1_forward_into(const floating[:, :, :, ::1] xp, const floating[:, :, :, :, ::1] wp,
                     const floating[:, ::1] bp, floating[:, :, :, ::1] y, bint relu):
    cdef Py_ssize_t N = y.shape[0], F = y.shape[1], OH = y.shape[2], OW = y.shape[3]
    cdef Py_ssize_t C = xp.shape[1], kh = wp.shape[2], kw = wp.shape[3]
    cdef int threads = sn_threads_for(N * F * C * kh * kw * OH * OW)
    with nogil:
        _s1_forward(&xp[0, 0, 0, 0], &wp[0, 0, 0, 0, 0], &bp[0, 0], &y[0, 0, 0, 0], N, C, xp.shape[2],
                    xp.shape[3], F, kh, kw, OH, OW, relu, threads)


cdef void _s1_weights(const floating* xp, const floating* g, double* out, const Py_ssize_t* offsets,
                      Py_ssize_t N, Py_ssize_t C, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t F, Py_ssize_t groups,
                      Py_ssize_t OH, Py_ssize_t OW, int threads) noexcept nogil:
    cdef Py_ssize_t task, blk, c, grp, blocks = (F + SN_S1_WFILTERS - 1) // SN_S1_WFILTERS
    for task in prange(blocks * C * groups, schedule="static", num_threads=threads):
        blk = task // (C * groups)
        c = (task // groups) % C
        grp = task % groups
        _s1_weights_tile(xp, g, out + task * SN_S1_WFILTERS * (SN_S1_TAPS + 1), offsets + grp * SN_S1_TAPS, N, C,
                         c, F, blk * SN_S1_WFILTERS, min(<Py_ssize_t>SN_S1_WFILTERS, F - blk * SN_S1_WFILTERS), PH,
                         PW, OH, OW)


def _s1_weights_into(const floating[:, :, :, ::1] xp, const floating[:, :, :, ::1] g, double[:, ::1] out,
                     const Py_ssize_t[:, ::1] offsets):
    cdef Py_ssize_t N = g.shape[0], F = g.shape[1], OH = g.shape[2], OW = g.shape[3], C = xp.shape[1]
    cdef int threads = sn_threads_for(N * F * C * offsets.shape[0] * SN_S1_TAPS * OH * OW)
    with nogil:
        _s1_weights(&xp[0, 0, 0, 0], &g[0, 0, 0, 0], &out[0, 0], &offsets[0, 0], N, C, xp.shape[2], xp.shape[3],
                    F, offsets.shape[0], OH, OW, threads)


cdef void _s1_input(const floating* g, const floating* zero, const floating* w, floating* dx, Py_ssize_t N,
                    Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F, Py_ssize_t kh, Py_ssize_t kw,
                    Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW, int rb, int threads) noexcept nogil:
    cdef Py_ssize_t task, n, c, blk, y0, x0, chunk = 2 * SN_S1_BYTES // sizeof(floating)
    cdef Py_ssize_t blocks = (H + rb - 1) // rb
    for task in prange(N * C * blocks, schedule="static", num_threads=threads):
        n = task // (C * blocks)
        c = (task // blocks) % C
        y0 = (task % blocks) * rb
        x0 = 0
        while x0 < W:
            _s1_input_tile(g + n * F * OH * OW, zero, w + c * kh * kw, dx + (n * C + c) * H * W, F, C * kh * kw, OH,
                           OW, kh, kw, pt, pl, y0, min(<Py_ssize_t>rb, H - y0), x0, min(chunk, W - x0), W, rb)
            x0 = x0 + chunk


def _s1_input_into(const floating[:, :, :, ::1] dout, const floating[::1] zero, const floating[:, :, :, ::1] w,
                   floating[:, :, :, ::1] dx, Py_ssize_t pt, Py_ssize_t pl, int rb):
    cdef int threads = sn_threads_for(dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3] * w.shape[0] * w.shape[2]
                                      * w.shape[3])
    with nogil:
        _s1_input(&dout[0, 0, 0, 0], &zero[0], &w[0, 0, 0, 0], &dx[0, 0, 0, 0], dx.shape[0], dx.shape[1],
                  dx.shape[2], dx.shape[3], w.shape[0], w.shape[2], w.shape[3], pt, pl, dout.shape[2],
                  dout.shape[3], rb, threads)


def _s1_chunk(dtype) -> int:
    """Output columns of one stride-1 forward or dx tile (two vector registers)."""
    return 2 * SN_S1_BYTES // np.dtype(dtype).itemsize


def _s1_padded_input(x, kh, kw, pt, pl, oh, ow):
    """x zero-padded for the stride-1 tiles: (N, C, oh + kh - 1, PW), x[n, c, r, q] at [n, c, pt + r, pl + q],
    PW wide enough for whole vectors past the last output column (forward's pairs, dW's singles)."""
    n, c, h, w = x.shape
    chunk = _s1_chunk(x.dtype)
    xp = np.zeros((n, c, oh + kh - 1, -(-ow // chunk) * chunk + kw - 1), dtype=x.dtype)
    xp[:, :, pt : pt + h, pl : pl + w] = x
    return xp


def _s1_conv_forward(x, w, b, pt, pl, oh, ow, relu):
    f, c, kh, kw = w.shape
    fb = SN_S1_FILTERS
    blocks = -(-f // fb)
    wp = np.zeros((blocks * fb, c, kh, kw), dtype=x.dtype)  # (blocks, C, kh, kw, FILTERS): a tap's filters together
    wp[:f] = w
    wp = np.ascontiguousarray(wp.reshape(blocks, fb, c, kh, kw).transpose(0, 2, 3, 4, 1))
    bp = np.zeros((blocks, fb), dtype=x.dtype)
    if b is not None:
        bp.reshape(-1)[:f] = b
    y = np.empty((x.shape[0], f, oh, ow), dtype=x.dtype)
    _s1_forward_into(_s1_padded_input(x, kh, kw, pt, pl, oh, ow), wp, bp, y, relu)
    return y


def _s1_conv_backward_params(x, dout, kh, kw, pt, pl):
    """(dW, db) of a stride-1 layer, both from one pass of the dW kernel."""
    n, f, oh, ow = dout.shape
    c, kk = x.shape[1], kh * kw
    xp = _s1_padded_input(x, kh, kw, pt, pl, oh, ow)
    taps, fb = SN_S1_TAPS, SN_S1_WFILTERS
    groups, blocks = -(-kk // taps), -(-f // fb)
    tap = np.arange(groups * taps)
    offsets = np.where(tap < kk, (tap // kw) * xp.shape[3] + tap % kw, 0).astype(np.intp).reshape(groups, taps)
    out = np.empty((blocks * c * groups, fb * (taps + 1)), dtype=np.float64)
    _s1_weights_into(xp, dout, out, offsets)
    out = out.reshape(blocks, c, groups, fb, taps + 1)
    dw = out[..., :taps].transpose(0, 3, 1, 2, 4).reshape(blocks * fb, c, groups * taps)[:f, :, :kk]
    db = out[:, 0, 0, :, taps].reshape(-1)[:f]  # each (block, channel, group) task sums the same db: take one
    return dw.astype(x.dtype).reshape(f, c, kh, kw), db.astype(x.dtype)


def _s1_conv_backward_input(dout, w, x_shape, pt, pl):
    h = x_shape[2]
    # rows per tile: SN_S1_ROWS or one fewer, whichever computes fewer rows past the image
    rows = SN_S1_ROWS if -(-h // SN_S1_ROWS) * SN_S1_ROWS <= -(-h // (SN_S1_ROWS - 1)) * (SN_S1_ROWS - 1) else SN_S1_ROWS - 1
    dx = np.empty(x_shape, dtype=dout.dtype)
    zero = np.zeros(dout.shape[3], dtype=dout.dtype)  # what rows above and below the gradients read
    _s1_input_into(dout, zero, w, dx, pt, pl, rows)
    return dx


def _forward_into(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w, const floating[::1] b,
                  floating[:, :, :, ::1] y, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl):
    cdef const floating* bp = NULL
    cdef Py_ssize_t kw = w.shape[3]
    cdef int threads = sn_threads_for(x.shape[0] * w.shape[0] * x.shape[1] * w.shape[2] * kw * y.shape[2] * y.shape[3])
    cdef floating[::1] scratch = np.empty(threads * (LANES + _span_size(kw, x.shape[3])),
                                          dtype=np.float32 if floating is float else np.float64)
    if b is not None:
        bp = &b[0]
    with nogil:
        _forward(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], &scratch[0], x.shape[0], x.shape[1],
                 x.shape[2], x.shape[3], w.shape[0], w.shape[2], kw, sh, sw, pt, pl, y.shape[2], y.shape[3], threads)


def _weights_into(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout,
                  floating[:, :, :, ::1] dw, floating[::1] scratch, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt,
                  Py_ssize_t pl):
    with nogil:
        _weights(&x[0, 0, 0, 0], &dout[0, 0, 0, 0], &dw[0, 0, 0, 0], &scratch[0], x.shape[0], x.shape[1], x.shape[2],
                 x.shape[3], dw.shape[0], dw.shape[2], dw.shape[3], sh, sw, pt, pl, dout.shape[2],
                 dout.shape[3])


def _input_into(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] w, floating[:, :, :, ::1] dx,
                Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl):
    with nogil:
        _input(&dout[0, 0, 0, 0], &w[0, 0, 0, 0], &dx[0, 0, 0, 0], dx.shape[0], dx.shape[1], dx.shape[2],
               dx.shape[3], w.shape[0], w.shape[2], w.shape[3], sh, sw, pt, pl, dout.shape[2], dout.shape[3])


def conv_forward(x, w, b, stride=1, pad=0, relu=False):
    """y (N, F, OH, OW) for x (N, C, H, W), w (F, C, kh, kw), b (F,) or None; max(0, y) when relu."""
    x, w, b, (sh, sw), (pt, pb, pl, pr), (oh, ow) = prepare_direct_forward(x, w, b, stride, pad)
    if sh == sw == 1:
        return _s1_conv_forward(x, w, b, pt, pl, oh, ow, bool(relu))
    y = np.empty((x.shape[0], w.shape[0], oh, ow), dtype=x.dtype)
    _forward_into(x, w, b, y, sh, sw, pt, pl)
    return relu_in_place(y) if relu else y


def conv_backward_weights(x, dout, kernel_size, stride=1, pad=0):
    """dW (F, C, kh, kw) for the input x and the upstream gradient dout (N, F, OH, OW)."""
    x, dout, (kh, kw), (sh, sw), (pt, pb, pl, pr) = prepare_direct_backward_weights(
        x, dout, kernel_size, stride, pad
    )
    if sh == sw == 1:
        return _s1_conv_backward_params(x, dout, kh, kw, pt, pl)[0]
    f = dout.shape[1]
    dw = np.empty((f, x.shape[1], kh, kw), dtype=x.dtype)
    blocks = (f + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    _weights_into(x, dout, dw, np.empty(blocks * _scratch_size(kh * kw, kw, x.shape[3]), dtype=x.dtype), sh, sw, pt, pl)
    return dw


def conv_backward_params(x, dout, kernel_size, stride=1, pad=0):
    """(dW, db): dW as ``conv_backward_weights`` and db (F,) = dout summed over images, rows and columns."""
    x, dout, (kh, kw), (sh, sw), (pt, pb, pl, pr) = prepare_direct_backward_weights(
        x, dout, kernel_size, stride, pad
    )
    if sh == sw == 1:
        return _s1_conv_backward_params(x, dout, kh, kw, pt, pl)
    n, f = dout.shape[:2]
    return conv_backward_weights(x, dout, kernel_size, stride, pad), dout.reshape(n, f, -1).sum(axis=2).sum(axis=0)


def conv_backward_input(dout, w, x_shape, stride=1, pad=0):
    """dx of ``x_shape`` for the upstream gradient dout (N, F, OH, OW) and the weights w."""
    dout, w, x_shape, (sh, sw), (pt, pb, pl, pr) = prepare_direct_backward_input(dout, w, x_shape, stride, pad)
    if sh == sw == 1:
        return _s1_conv_backward_input(dout, w, x_shape, pt, pl)
    dx = np.empty(x_shape, dtype=dout.dtype)
    _input_into(dout, w, dx, sh, sw, pt, pl)
    return dx
