# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Attention's row softmax and its Jacobian-vector product, in place, on the kernels' OpenMP threads (see
``scratchnet/fast/softmax.py`` for the maths and the twin; the C is ``pyx/softmax.h``).

NumPy's max, exp, sum and divide each make a pass over the (N, H, T, T) scores on one core; here each row
is done in one go (a causal row t touches only its first t + 1 entries), rows shared out over the threads
in fixed chunks, so the results do not depend on the thread count. Arrays that are not C-contiguous
float32/float64, or empty, go to the twin.
"""

import numpy as np

from cython.parallel cimport prange
cimport cython
from cython cimport floating

from kernel_helpers cimport sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.fast import softmax as twin
from scratchnet.arguments import kernel_takes

__all__ = ["softmax_backward_in_place", "softmax_in_place"]

cdef enum:
    ROWS = 64  # rows per task

cdef extern from "softmax.h":
    void sn_softmax_rows_f(float* s, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t n, int causal) noexcept nogil
    void sn_softmax_rows_d(double* s, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t n, int causal) noexcept nogil
    void sn_softmax_backward_rows_f(float* ds, const float* p, Py_ssize_t lo, Py_ssize_t hi,
                                    Py_ssize_t n) noexcept nogil
    void sn_softmax_backward_rows_d(double* ds, const double* p, Py_ssize_t lo, Py_ssize_t hi,
                                    Py_ssize_t n) noexcept nogil


def _softmax_into(floating[:, ::1] s, bint causal):
    cdef Py_ssize_t rows = s.shape[0], n = s.shape[1], task, lo, hi
    with nogil:
        for task in prange((rows + ROWS - 1) // ROWS, schedule="static", num_threads=sn_threads_for(rows * n)):
            lo = task * ROWS
            hi = min(lo + ROWS, rows)
            if floating is float:
                sn_softmax_rows_f(&s[0, 0], lo, hi, n, causal)
            else:
                sn_softmax_rows_d(&s[0, 0], lo, hi, n, causal)


def _backward_into(floating[:, ::1] ds, const floating[:, ::1] p):
    cdef Py_ssize_t rows = ds.shape[0], n = ds.shape[1], task, lo, hi
    with nogil:
        for task in prange((rows + ROWS - 1) // ROWS, schedule="static", num_threads=sn_threads_for(rows * n)):
            lo = task * ROWS
            hi = min(lo + ROWS, rows)
            if floating is float:
                sn_softmax_backward_rows_f(&ds[0, 0], &p[0, 0], lo, hi, n)
            else:
                sn_softmax_backward_rows_d(&ds[0, 0], &p[0, 0], lo, hi, n)


@cython.wraparound(True)  # Python-level shape arithmetic
def softmax_in_place(s, causal):
    """``s`` overwritten by its row softmax (a causal (..., T, T) stack: key s > query t masked); returns
    ``s``."""
    square = s.ndim >= 2 and s.shape[-1] == s.shape[-2]
    if not (kernel_takes((s,)) and s.size > 0 and s.flags.writeable and (square or not causal)):
        return twin.softmax_in_place(s, causal)
    _softmax_into(s.reshape(-1, s.shape[-1]), bool(causal))
    return s


@cython.wraparound(True)  # Python-level shape arithmetic
def softmax_backward_in_place(ds, prob):
    """``ds`` (dL/dP on entry) overwritten by dL/dS = P (dP - sum(dP P)) row by row; returns ``ds``."""
    if not (kernel_takes((ds, prob)) and ds.size > 0 and ds.shape == prob.shape and ds.flags.writeable):
        return twin.softmax_backward_in_place(ds, prob)
    _backward_into(ds.reshape(-1, ds.shape[-1]), prob.reshape(-1, prob.shape[-1]))
    return ds
