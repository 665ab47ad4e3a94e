# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""LayerNorm over the last axis, forward and backward, on the kernels' OpenMP threads (see
``scratchnet/fast/layernorm.py`` for the maths and the twin; the C is ``pyx/layernorm.h``).

The layer's NumPy code makes some ten passes over the array on one core; here each row is one pass for
its sums and one for its outputs, the rows shared out over the threads. The parameter gradients are summed
per fixed block of rows, then over the blocks, so no result depends on the thread count. Arrays that are
not C-contiguous float32/float64 of one dtype, or empty, go to the twin.
"""

import numpy as np

from cython.parallel cimport prange
cimport cython
from cython cimport floating

from kernel_helpers cimport sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.fast import layernorm as twin
from scratchnet.arguments import kernel_takes

__all__ = ["layer_norm", "layer_norm_backward"]

cdef extern from "layernorm.h":
    enum: SN_LN_BLOCK
    void sn_layernorm_f(const float* x, const float* gamma, const float* beta, float eps, float* y,
                        float* x_hat, float* inv_std, Py_ssize_t rows, Py_ssize_t d) noexcept nogil
    void sn_layernorm_d(const double* x, const double* gamma, const double* beta, double eps, double* y,
                        double* x_hat, double* inv_std, Py_ssize_t rows, Py_ssize_t d) noexcept nogil
    void sn_layernorm_backward_f(const float* dout, const float* x_hat, const float* inv_std,
                                 const float* gamma, float* dx, float* dgamma, float* dbeta, Py_ssize_t lo,
                                 Py_ssize_t hi, Py_ssize_t d) noexcept nogil
    void sn_layernorm_backward_d(const double* dout, const double* x_hat, const double* inv_std,
                                 const double* gamma, double* dx, double* dgamma, double* dbeta,
                                 Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t d) noexcept nogil


def _forward_into(const floating[:, ::1] x, const floating[::1] gamma, const floating[::1] beta, double eps,
                  floating[:, ::1] y, floating[:, ::1] x_hat, floating[::1] inv_std):
    cdef Py_ssize_t rows = x.shape[0], d = x.shape[1], block, lo, hi
    cdef Py_ssize_t blocks = (rows + SN_LN_BLOCK - 1) // SN_LN_BLOCK
    with nogil:
        for block in prange(blocks, schedule="static", num_threads=sn_threads_for(rows * d)):
            lo = block * SN_LN_BLOCK
            hi = min(lo + SN_LN_BLOCK, rows)
            if floating is float:
                sn_layernorm_f(&x[lo, 0], &gamma[0], &beta[0], <float>eps, &y[lo, 0], &x_hat[lo, 0],
                               &inv_std[lo], hi - lo, d)
            else:
                sn_layernorm_d(&x[lo, 0], &gamma[0], &beta[0], eps, &y[lo, 0], &x_hat[lo, 0], &inv_std[lo],
                               hi - lo, d)


def _backward_into(const floating[:, ::1] dout, const floating[:, ::1] x_hat, const floating[::1] inv_std,
                   const floating[::1] gamma, floating[:, ::1] dx, floating[:, ::1] dgamma,
                   floating[:, ::1] dbeta):
    cdef Py_ssize_t rows = dout.shape[0], d = dout.shape[1], block, lo, hi
    with nogil:
        for block in prange(dgamma.shape[0], schedule="static", num_threads=sn_threads_for(rows * d)):
            lo = block * SN_LN_BLOCK
            hi = min(lo + SN_LN_BLOCK, rows)
            if floating is float:
                sn_layernorm_backward_f(&dout[0, 0], &x_hat[0, 0], &inv_std[0], &gamma[0], &dx[0, 0],
                                        &dgamma[block, 0], &dbeta[block, 0], lo, hi, d)
            else:
                sn_layernorm_backward_d(&dout[0, 0], &x_hat[0, 0], &inv_std[0], &gamma[0], &dx[0, 0],
                                        &dgamma[block, 0], &dbeta[block, 0], lo, hi, d)


@cython.wraparound(True)  # Python-level shape arithmetic
def layer_norm(x, gamma, beta, eps):
    """(y, x_hat, inv_std) for x (..., D) with gamma, beta (D,): inv_std is (..., 1), as the twin's."""
    if not (kernel_takes((x, gamma, beta)) and x.size > 0 and gamma.shape == beta.shape == x.shape[-1:]):
        return twin.layer_norm(x, gamma, beta, eps)
    d = x.shape[-1]
    y, x_hat = np.empty_like(x), np.empty_like(x)
    inv_std = np.empty(x.shape[:-1] + (1,), dtype=x.dtype)
    _forward_into(x.reshape(-1, d), gamma, beta, float(eps), y.reshape(-1, d), x_hat.reshape(-1, d),
                  inv_std.reshape(-1))
    return y, x_hat, inv_std


@cython.wraparound(True)  # Python-level shape arithmetic
def layer_norm_backward(dout, x_hat, inv_std, gamma):
    """(dx, d gamma, d beta) from forward's x_hat and inv_std."""
    takes = kernel_takes((dout, x_hat, inv_std, gamma)) and dout.size > 0
    if not (takes and dout.shape == x_hat.shape and inv_std.shape == x_hat.shape[:-1] + (1,)
            and gamma.shape == x_hat.shape[-1:]):
        return twin.layer_norm_backward(dout, x_hat, inv_std, gamma)
    d = x_hat.shape[-1]
    rows = x_hat.size // d
    blocks = (rows + SN_LN_BLOCK - 1) // SN_LN_BLOCK
    dx = np.empty_like(dout)
    dgamma = np.zeros((blocks, d), dtype=dout.dtype)
    dbeta = np.zeros((blocks, d), dtype=dout.dtype)
    _backward_into(dout.reshape(-1, d), x_hat.reshape(-1, d), inv_std.reshape(-1), gamma, dx.reshape(-1, d),
                   dgamma, dbeta)
    return dx, dgamma.sum(axis=0), dbeta.sum(axis=0)
