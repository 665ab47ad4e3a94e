# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Adam's update of one parameter array in one pass, on the kernels' OpenMP threads (see
``scratchnet/fast/adam.py`` for the maths and the twin; the C is ``pyx/adam.h``).

The optimizer's NumPy code makes some thirteen passes over each parameter and its two moment arrays (a
sixth of the course MLP's training step); here each element is read and written once. The arithmetic is
the twin's, operation for operation, so the result is bit-identical whatever the thread count. Arrays that
are not C-contiguous float32/float64 of one dtype and shape, or that overlap, go to the twin.
"""

import numpy as np

from cython.parallel cimport prange
from cython cimport floating

from kernel_helpers cimport sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

from scratchnet.fast import adam as twin
from scratchnet.arguments import kernel_takes_elementwise

__all__ = ["adam_update"]

cdef enum:
    CHUNK = 32768  # elements per task

cdef extern from "adam.h":
    void sn_adam_f(float* p, const float* g, float* m, float* v, float b1, float c1, float b2, float c2,
                   float step, float bias2, float eps, Py_ssize_t n) noexcept nogil
    void sn_adam_d(double* p, const double* g, double* m, double* v, double b1, double c1, double b2,
                   double c2, double step, double bias2, double eps, Py_ssize_t n) noexcept nogil


def _update(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v, double b1, double b2,
            double step, double bias2, double eps):
    cdef Py_ssize_t n = p.shape[0], chunk, lo
    # each scalar rounded to the array's precision once, as the twin's p.dtype.type(...)
    cdef floating fb1 = <floating>b1, fc1 = <floating>(1 - b1), fb2 = <floating>b2, fc2 = <floating>(1 - b2)
    cdef floating fstep = <floating>step, fbias2 = <floating>bias2, feps = <floating>eps
    with nogil:
        for chunk in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=sn_threads_for(n)):
            lo = chunk * CHUNK
            if floating is float:
                sn_adam_f(&p[lo], &g[lo], &m[lo], &v[lo], fb1, fc1, fb2, fc2, fstep, fbias2, feps,
                          min(CHUNK, n - lo))
            else:
                sn_adam_d(&p[lo], &g[lo], &m[lo], &v[lo], fb1, fc1, fb2, fc2, fstep, fbias2, feps,
                          min(CHUNK, n - lo))


def adam_update(p, g, m, v, b1, b2, step, bias2, eps):
    """Updates ``p``, ``m`` and ``v`` in place; ``step`` = lr / (1 - b1^t), ``bias2`` = sqrt(1 - b2^t)."""
    arrays = (p, g, m, v)
    takes = kernel_takes_elementwise(arrays) and all(a.flags.writeable for a in (p, m, v))
    if not takes or any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:]):
        return twin.adam_update(p, g, m, v, b1, b2, step, bias2, eps)
    _update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), float(b1), float(b2), float(step),
            float(bias2), float(eps))
