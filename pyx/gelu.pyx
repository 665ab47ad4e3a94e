# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""GELU (exact form) forward and backward on the kernels' OpenMP threads (see ``scratchnet/fast/gelu.py``
for the maths and the twin; the C is ``pyx/gelu.h``).

NumPy has no erf: the layer's own code evaluates Cody's rational approximation in a dozen whole-array
passes on one core, about a third of a transformer block's training step. Here float32 runs the same
evaluation as one vectorised loop (``gelu.h``), float64 one C library erf per element, the array cut into
fixed chunks shared out over the threads, so the results do not depend on the thread count. Arrays that are not C-contiguous float32/float64 of one
dtype go to the twin.
"""

import numpy as np

from cython.parallel cimport prange
from cython cimport floating

from kernel_helpers cimport sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.fast import gelu as twin
from scratchnet.arguments import kernel_takes_elementwise

__all__ = ["gelu", "gelu_backward"]

cdef enum:
    CHUNK = 16384  # elements per task (float32: ~1.5 ns each, float64's libm erf ~10 ns)

cdef extern from "gelu.h":
    void sn_gelu_f(const float* x, float* y, float* phi, Py_ssize_t n) noexcept nogil
    void sn_gelu_d(const double* x, double* y, double* phi, Py_ssize_t n) noexcept nogil
    void sn_gelu_backward_f(const float* dout, const float* x, const float* phi, float* dx,
                            Py_ssize_t n) noexcept nogil
    void sn_gelu_backward_d(const double* dout, const double* x, const double* phi, double* dx,
                            Py_ssize_t n) noexcept nogil


cdef void _forward(const floating* x, floating* y, floating* phi, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t chunk, lo
    for chunk in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=sn_threads_for(n)):
        lo = chunk * CHUNK
        if floating is float:
            sn_gelu_f(x + lo, y + lo, phi + lo, min(CHUNK, n - lo))
        else:
            sn_gelu_d(x + lo, y + lo, phi + lo, min(CHUNK, n - lo))


cdef void _backward(const floating* dout, const floating* x, const floating* phi, floating* dx,
                    Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t chunk, lo
    for chunk in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=sn_threads_for(n)):
        lo = chunk * CHUNK
        if floating is float:
            sn_gelu_backward_f(dout + lo, x + lo, phi + lo, dx + lo, min(CHUNK, n - lo))
        else:
            sn_gelu_backward_d(dout + lo, x + lo, phi + lo, dx + lo, min(CHUNK, n - lo))


def _forward_into(const floating[::1] x, floating[::1] y, floating[::1] phi):
    with nogil:
        _forward(&x[0], &y[0], &phi[0], x.shape[0])


def _backward_into(const floating[::1] dout, const floating[::1] x, const floating[::1] phi,
                   floating[::1] dx):
    with nogil:
        _backward(&dout[0], &x[0], &phi[0], &dx[0], x.shape[0])


def _compiled(*arrays):
    return kernel_takes_elementwise(arrays)


def gelu(x):
    """(y, phi): y = x Phi(x) and the normal CDF Phi(x) that backward needs, elementwise."""
    if not _compiled(x):
        return twin.gelu(x)
    y = np.empty_like(x)
    phi = np.empty_like(x)
    _forward_into(x.reshape(-1), y.reshape(-1), phi.reshape(-1))
    return y, phi


def gelu_backward(dout, x, phi):
    """dx = dout (Phi(x) + x phi(x)), elementwise, from forward's Phi."""
    if not _compiled(dout, x, phi):
        return twin.gelu_backward(dout, x, phi)
    dx = np.empty_like(x)
    _backward_into(dout.reshape(-1), x.reshape(-1), phi.reshape(-1), dx.reshape(-1))
    return dx
