# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""ReLU forward and backward on the kernels' OpenMP threads (see ``scratchnet/fast/relu.py`` for the maths
and the twin).

NumPy's ``maximum`` and the masked product each run on one core; here the array is cut into fixed chunks
shared out over the threads, each chunk one vectorised loop. Every element is the twin's expression, so
the results are bit-identical to it (NaN, infinities and signed zeros included) whatever the thread count.
Arrays that are not C-contiguous float32/float64 of one dtype go to the twin.
"""

import numpy as np

from cython.parallel cimport prange
from cython cimport floating

from kernel_helpers cimport sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.fast import relu as twin
from scratchnet.arguments import kernel_takes_elementwise

__all__ = ["relu", "relu_backward", "relu_in_place"]

cdef enum:
    CHUNK = 32768  # elements per task: large enough to amortise the scheduling, small enough to balance

cdef extern from "relu.h":
    void sn_relu_f(const float* x, float* y, Py_ssize_t n) noexcept nogil
    void sn_relu_d(const double* x, double* y, Py_ssize_t n) noexcept nogil
    void sn_relu_in_place_f(float* x, Py_ssize_t n) noexcept nogil
    void sn_relu_in_place_d(double* x, Py_ssize_t n) noexcept nogil
    void sn_relu_backward_f(const float* dout, const float* x, float* dx, Py_ssize_t n) noexcept nogil
    void sn_relu_backward_d(const double* dout, const double* x, double* dx, Py_ssize_t n) noexcept nogil


cdef void _forward(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t chunk, lo
    for chunk in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=sn_threads_for(n)):
        lo = chunk * CHUNK
        if floating is float:
            sn_relu_f(x + lo, y + lo, min(CHUNK, n - lo))
        else:
            sn_relu_d(x + lo, y + lo, min(CHUNK, n - lo))


cdef void _in_place(floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t chunk, lo
    for chunk in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=sn_threads_for(n)):
        lo = chunk * CHUNK
        if floating is float:
            sn_relu_in_place_f(x + lo, min(CHUNK, n - lo))
        else:
            sn_relu_in_place_d(x + lo, min(CHUNK, n - lo))


cdef void _backward(const floating* dout, const floating* x, floating* dx, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t chunk, lo
    for chunk in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=sn_threads_for(n)):
        lo = chunk * CHUNK
        if floating is float:
            sn_relu_backward_f(dout + lo, x + lo, dx + lo, min(CHUNK, n - lo))
        else:
            sn_relu_backward_d(dout + lo, x + lo, dx + lo, min(CHUNK, n - lo))


def _forward_into(const floating[::1] x, floating[::1] y):
    with nogil:
        _forward(&x[0], &y[0], x.shape[0])


def _in_place_into(floating[::1] x):
    with nogil:
        _in_place(&x[0], x.shape[0])


def _backward_into(const floating[::1] dout, const floating[::1] x, floating[::1] dx):
    with nogil:
        _backward(&dout[0], &x[0], &dx[0], x.shape[0])


def _compiled(*arrays):
    return kernel_takes_elementwise(arrays)


def relu(x):
    """y = max(0, x), elementwise (the twin's result, computed on the OpenMP threads)."""
    if not _compiled(x):
        return twin.relu(x)
    y = np.empty_like(x)
    _forward_into(x.reshape(-1), y.reshape(-1))
    return y


def relu_in_place(x):
    """x = max(0, x), elementwise, overwriting x; returns x."""
    if not _compiled(x) or not x.flags.writeable:
        return twin.relu_in_place(x)
    _in_place_into(x.reshape(-1))
    return x


def relu_backward(dout, x):
    """dx = dout * (x > 0), elementwise."""
    if not _compiled(dout, x):
        return twin.relu_backward(dout, x)
    dx = np.empty_like(x)
    _backward_into(dout.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx
